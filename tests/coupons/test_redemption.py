"""Coupons redeemed at checkout over the API: the worked example to the fen, each kind, the reasons
couponCheck gives, a used coupon refused, the signed QR payload, refunds giving coupons back."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from domain.db import read_transaction
from domain.ledger.postings import accounts
from tests.coupons.api import CHECK, COUPON, create_template, issue, one_coupon, pay, refund, service
from tests.support import assert_ledger_ok, open_order


async def _balance(engine, code_suffix: str) -> int:
    async with read_transaction(engine) as db:
        # Over every shard of the store's account (domain.ledger.store_accounts): `…:coupon`, `…:coupon#3`.
        rows = await db.execute(select(accounts.c.code, accounts.c.balance).where(accounts.c.code.like(f"%{code_suffix}%")))
        return sum(balance for code, balance in rows if code.split("#")[0].endswith(code_suffix))


async def test_the_worked_example_388_with_300_off_50_and_an_85_card_pays_28730(demo, engine):
    member = await demo.register()
    card = (await demo.top_up(member["id"], 100_000, product="金卡"))["card"]  # 85折, ¥1,000 + ¥200 gift
    coupon = await one_coupon(demo, member["id"])
    order = await open_order(demo, [{"serviceId": await service(demo, "焕颜护理", 38_800)}], member_id=member["id"])
    paid = await pay(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"]}], [coupon["code"]])
    assert paid["errors"] == [], paid
    o = paid["order"]
    assert (o["status"], o["listTotal"], o["discount"], o["total"]) == ("PAID", 38_800, 38_800 - 28_730, 28_730)
    assert o["breakdown"]["coupons"] == [{"code": coupon["code"], "discount": 5_000}]
    assert [p["amount"] for p in o["breakdown"]["payments"]] == [28_730]
    assert o["lines"][0]["discount"] == 5_000 + 33_800 - 28_730 and o["lines"][0]["netAmount"] == 28_730
    assert await _balance(engine, ":store_discount:coupon") == 5_000
    used = (await demo.gql(COUPON, {"c": coupon["code"]}, as_="reception"))["coupon"]
    assert (used["status"], used["discount"], used["redeemedOrder"]["id"]) == ("REDEEMED", 5_000, order["id"])
    await assert_ledger_ok(engine)


async def test_a_coupon_that_does_not_stack_leaves_the_card_at_list_price(demo, engine):
    member = await demo.register()
    card = (await demo.top_up(member["id"], 100_000, product="金卡"))["card"]
    coupon = await one_coupon(demo, member["id"], stacksWithCardDiscount=False)
    order = await open_order(demo, [{"serviceId": await service(demo, "焕颜护理", 38_800)}], member_id=member["id"])
    paid = await pay(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"]}], [coupon["code"]])
    assert paid["errors"] == [] and paid["order"]["total"] == 33_800
    await assert_ledger_ok(engine)


async def test_a_percent_coupon_stops_at_its_cap_and_a_free_service_voucher_pays_for_itself(demo, engine):
    member = await demo.register()
    spa = demo.services["精油全身SPA"]["id"]  # ¥588
    capped = await one_coupon(demo, member["id"], kind="PERCENT_OFF", threshold=None, amountOff=None, percentOff=20, maxDiscount=10_000)
    order = await open_order(demo, [{"serviceId": spa}], member_id=member["id"])
    paid = await pay(demo, order["id"], [{"method": "CASH"}], [capped["code"]])
    assert paid["errors"] == [] and paid["order"]["total"] == 48_800  # 20% of 588 is 117.60, capped at 100
    voucher = await one_coupon(demo, member["id"], kind="FREE_SERVICE", threshold=None, amountOff=None, serviceIds=[spa])
    order = await open_order(demo, [{"serviceId": spa}], member_id=member["id"])
    free = await pay(demo, order["id"], [], [voucher["code"]])
    assert free["errors"] == [] and (free["order"]["status"], free["order"]["total"], free["order"]["breakdown"]["payments"]) == ("PAID", 0, [])
    assert await _balance(engine, ":store_discount:coupon") == 10_000 + 58_800
    await assert_ledger_ok(engine)


async def test_buy_three_get_one_frees_the_fourth_unit(demo, engine):
    member = await demo.register()
    nails = demo.services["日式美甲"]["id"]  # ¥168
    deal = await one_coupon(demo, member["id"], kind="BUY_N_GET_ONE", threshold=None, amountOff=None, serviceIds=[nails], buyCount=3)
    order = await open_order(demo, [{"serviceId": nails, "quantity": 4}], member_id=member["id"])
    paid = await pay(demo, order["id"], [{"method": "CASH"}], [deal["code"]])
    assert paid["errors"] == [] and paid["order"]["total"] == 3 * 16_800
    await assert_ledger_ok(engine)


async def test_coupon_check_gives_the_discount_or_every_reason(demo, engine):
    member, other = await demo.register(name="甲"), await demo.register(name="乙")
    facial = demo.services["面部深层清洁"]["id"]  # ¥298
    coupon = await one_coupon(demo, member["id"], storeIds=[demo.xuhui], serviceIds=[demo.services["精油全身SPA"]["id"]])
    mine = await open_order(demo, [{"serviceId": facial}], member_id=other["id"])
    check = (await demo.gql(CHECK, {"o": mine["id"], "c": coupon["code"]}, as_="reception"))["couponCheck"]
    assert check == {"applicable": False, "discount": 0, "coupon": {"code": coupon["code"], "status": "ISSUED"},
                     "reasons": ["COUPON_OTHER_MEMBER", "COUPON_STORE_OUT_OF_SCOPE", "COUPON_SERVICE_OUT_OF_SCOPE"]}
    plain = await one_coupon(demo, member["id"])
    order = await open_order(demo, [{"serviceId": facial}], member_id=member["id"])
    check = (await demo.gql(CHECK, {"o": order["id"], "c": plain["code"]}, as_="reception"))["couponCheck"]
    assert (check["applicable"], check["reasons"]) == (False, ["COUPON_THRESHOLD_NOT_MET"])
    two = await open_order(demo, [{"serviceId": facial, "quantity": 2}], member_id=member["id"])
    check = (await demo.gql(CHECK, {"o": two["id"], "c": plain["qrPayload"]}, as_="reception"))["couponCheck"]
    assert (check["applicable"], check["discount"], check["reasons"]) == (True, 5_000, [])
    check = (await demo.gql(CHECK, {"o": two["id"], "c": plain["code"], "x": [coupon["code"]]}, as_="reception"))["couponCheck"]
    assert check["reasons"] == ["COUPON_DOES_NOT_STACK"]
    missing = (await demo.gql(CHECK, {"o": two["id"], "c": "NOSUCHCODE"}, as_="reception"))["couponCheck"]
    assert (missing["reasons"], missing["coupon"]) == (["COUPON_NOT_FOUND"], None)
    refused = await pay(demo, order["id"], [{"method": "CASH"}], [plain["code"]])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("COUPON_THRESHOLD_NOT_MET", "couponCodes.0")]


async def test_a_used_coupon_is_refused_and_an_altered_qr_payload_too(demo, engine):
    member = await demo.register()
    facial = demo.services["面部深层清洁"]["id"]
    coupon = await one_coupon(demo, member["id"], threshold=None)
    first = await open_order(demo, [{"serviceId": facial}], member_id=member["id"])
    assert (await pay(demo, first["id"], [{"method": "CASH"}], [coupon["qrPayload"]]))["errors"] == []
    second = await open_order(demo, [{"serviceId": facial}], member_id=member["id"])
    again = await pay(demo, second["id"], [{"method": "CASH"}], [coupon["code"]])
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("COUPON_USED", "couponCodes.0")]
    forged = coupon["qrPayload"][:-1] + ("A" if coupon["qrPayload"][-1] != "A" else "B")
    tampered = await pay(demo, second["id"], [{"method": "CASH"}], [forged])
    assert [(e["code"], e["field"]) for e in tampered["errors"]] == [("COUPON_QR_INVALID", "couponCodes.0")]
    other_code = coupon["qrPayload"].replace(coupon["code"], "ABCDEFGHJKMN")
    assert (await pay(demo, second["id"], [{"method": "CASH"}], [other_code]))["errors"][0]["code"] == "COUPON_QR_INVALID"
    await assert_ledger_ok(engine)


async def test_a_whole_refund_gives_the_coupon_back_and_a_partial_one_keeps_it_used(demo, engine):
    member = await demo.register()
    facial, spa = demo.services["面部深层清洁"]["id"], demo.services["精油全身SPA"]["id"]  # 298 + 588 = 886
    coupon = await one_coupon(demo, member["id"])
    order = await open_order(demo, [{"serviceId": facial}, {"serviceId": spa}], member_id=member["id"])
    paid = await pay(demo, order["id"], [{"method": "CASH"}], [coupon["code"]])
    assert paid["errors"] == [] and paid["order"]["total"] == 88_600 - 5_000
    points = "query($id: ID!) { member(id: $id) { points } }"
    assert (await demo.gql(points, {"id": member["id"]}, as_="manager"))["member"]["points"] == 836  # on ¥836 of real money
    # 5000 over 29800 and 58800: 1681.8 and 3318.2 -> 1682 and 3318
    assert [l["discount"] for l in paid["order"]["lines"]] == [1_682, 3_318]
    facial_line = paid["order"]["lines"][0]["id"]
    assert (await refund(demo, order["id"], [{"lineId": facial_line, "quantity": 1}]))["errors"] == []
    assert (await demo.gql(COUPON, {"c": coupon["code"]}, as_="reception"))["coupon"]["status"] == "REDEEMED"
    assert await _balance(engine, ":store_discount:coupon") == 3_318  # the facial's share came back off discounts given
    assert (await refund(demo, order["id"]))["errors"] == []
    back = (await demo.gql(COUPON, {"c": coupon["code"]}, as_="reception"))["coupon"]
    assert (back["status"], back["discount"], back["redeemedOrder"]) == ("ISSUED", 0, None)
    assert await _balance(engine, ":store_discount:coupon") == 0
    assert (await demo.gql(points, {"id": member["id"]}, as_="manager"))["member"]["points"] == 0  # the sale's points came back out
    again = await open_order(demo, [{"serviceId": spa}], member_id=member["id"])
    assert (await pay(demo, again["id"], [{"method": "CASH"}], [coupon["code"]]))["order"]["total"] == 53_800
    await assert_ledger_ok(engine)


async def test_daily_close_counts_coupons_redeemed_and_their_amount(demo, engine):
    member = await demo.register()
    spa = demo.services["精油全身SPA"]["id"]
    for _ in range(2):
        coupon = await one_coupon(demo, member["id"])
        order = await open_order(demo, [{"serviceId": spa}], member_id=member["id"])
        assert (await pay(demo, order["id"], [{"method": "CASH"}], [coupon["code"]]))["errors"] == []
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    close = (await demo.gql("query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) { couponsRedeemed couponDiscount } }",
                            {"s": demo.jingan, "d": today}, as_="manager"))["dailyClose"]
    assert close == {"couponsRedeemed": 2, "couponDiscount": 10_000}
    await assert_ledger_ok(engine)


async def test_issue_coupons_is_idempotent_on_its_key(demo, engine):
    member = await demo.register()
    template = await create_template(demo)
    preview = "query($t: ID!, $m: [ID!]!, $k: String) { couponIssuePreview(templateId: $t, memberIds: $m, idempotencyKey: $k) }"
    assert (await demo.gql(preview, {"t": template["id"], "m": [member["id"]], "k": "issue-1"}, as_="marketer"))["couponIssuePreview"] == 1
    first = await issue(demo, template["id"], [member["id"]], key="issue-1")
    assert (await demo.gql(preview, {"t": template["id"], "m": [member["id"]], "k": "issue-1"}, as_="marketer"))["couponIssuePreview"] == 0
    again = await issue(demo, template["id"], [member["id"]], key="issue-1")
    assert (first["issuedCount"], again["issuedCount"], again["coupons"][0]["code"]) == (1, 1, first["coupons"][0]["code"])
    refused = await demo.gql.raw(
        "mutation($i: IssueCouponsInput!) { issueCoupons(input: $i) { issuedCount errors { code field } } }",
        {"i": {"templateId": template["id"], "memberIds": [member["id"]], "idempotencyKey": "x"}}, as_="reception",
    )
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]


async def test_daily_close_counts_each_redemption_once_on_the_same_basis_as_its_discount(demo, engine):
    member = await demo.register()
    facial, spa = demo.services["面部深层清洁"]["id"], demo.services["精油全身SPA"]["id"]
    given_back = await one_coupon(demo, member["id"])
    # One redemption shared over two lines (1682 + 3318), refunded in full: the coupon comes back and is used again.
    first = await open_order(demo, [{"serviceId": facial}, {"serviceId": spa}], member_id=member["id"])
    assert (await pay(demo, first["id"], [{"method": "CASH"}], [given_back["code"]]))["errors"] == []
    assert (await refund(demo, first["id"]))["errors"] == []
    again = await open_order(demo, [{"serviceId": spa}], member_id=member["id"])
    assert (await pay(demo, again["id"], [{"method": "CASH"}], [given_back["code"]]))["errors"] == []
    other = await one_coupon(demo, member["id"])
    third = await open_order(demo, [{"serviceId": facial}, {"serviceId": spa}], member_id=member["id"])
    assert (await pay(demo, third["id"], [{"method": "CASH"}], [other["code"]]))["errors"] == []
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    close = (await demo.gql("query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) { couponsRedeemed couponDiscount refunds { count amount } } }",
                            {"s": demo.jingan, "d": today}, as_="manager"))["dailyClose"]
    # Three redemptions of ¥50 each; the refunded one is also under refunds (¥886 - ¥50 paid back).
    assert close == {"couponsRedeemed": 3, "couponDiscount": 15_000, "refunds": {"count": 1, "amount": 83_600}}
    await assert_ledger_ok(engine)
