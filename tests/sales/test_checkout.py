"""The front desk's day through the staff API, with hand-worked figures (DESIGN.md §7 core contract)."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import text

from domain.db import read_transaction
from tests.support import assert_ledger_ok, checkout, open_order

MEMBER = """query($id: ID!) { member(id: $id) { points storedValueCards { id principal gift balance }
  countCards { id remaining expiresAt product { name } } onAccount { debt creditLimit available } } }"""


async def snapshot(engine) -> tuple:
    async with read_transaction(engine) as db:
        return tuple([await db.scalar(text(f"SELECT count(*) FROM {t}")) for t in ("transfers", "postings", "count_card_uses", "order_payments", "count_cards")]
                     + [tuple(await db.execute(text("SELECT id, balance FROM accounts ORDER BY id")))])


def today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


async def test_card_sold_at_one_store_pays_a_held_order_at_another_with_discount_split_and_settlement(demo, engine):
    await demo.gql("mutation { updateBrandSettings(input: {settlementRatePercent: 90}) { errors { code } } }", as_="owner")
    member = await demo.register("周琳", "13912345678", store=demo.jingan)
    card = (await demo.top_up(member["id"], 100_000, store=demo.xuhui, as_="owner"))["card"]  # 充1000送200 at 徐汇店
    spa, nails = demo.services["精油全身SPA"], demo.services["日式美甲"]
    order = await open_order(demo, [{"serviceId": spa["id"], "technicianId": demo.staff["technician"]},
                                    {"serviceId": nails["id"]}], member_id=member["id"], store=demo.jingan, note="怕痛")
    assert (order["status"], order["total"], order["note"]) == ("OPEN", 75_600, "怕痛")

    held = (await demo.gql("mutation($i: OrderInput!) { holdOrder(input: $i) { order { status } errors { code } } }", {"i": {"orderId": order["id"]}}, as_="reception"))["holdOrder"]
    assert held == {"order": {"status": "HELD"}, "errors": []}
    waiting = (await demo.gql("query($s: ID!) { heldOrders(storeId: $s) { id note } }", {"s": demo.jingan}, as_="reception"))["heldOrders"]
    assert waiting == [{"id": order["id"], "note": "怕痛"}]
    refused = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"]}])
    assert [e["code"] for e in refused["errors"]] == ["ORDER_HELD"]
    resumed = (await demo.gql("mutation($i: OrderInput!) { resumeOrder(input: $i) { order { status } errors { code } } }", {"i": {"orderId": order["id"]}}, as_="reception"))["resumeOrder"]
    assert resumed["order"]["status"] == "OPEN"
    assert (await demo.gql("query($s: ID!) { heldOrders(storeId: $s) { id } }", {"s": demo.jingan}, as_="reception"))["heldOrders"] == []

    paid = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"]}], key="co-1")
    assert paid["errors"] == []
    o = paid["order"]
    # 金卡 85折 on services: 58800 → 49980, 16800 → 14280.
    assert (o["status"], o["listTotal"], o["discount"], o["total"], o["paid"]) == ("PAID", 75_600, 11_340, 64_260, 64_260)
    assert [(l["listAmount"], l["discount"], l["netAmount"]) for l in o["lines"]] == [(58_800, 8_820, 49_980), (16_800, 2_520, 14_280)]
    # Proportional split of 64260 over 100000:20000 → gift floor(64260/6) = 10710, principal 53550.
    assert [(p["method"], p["amount"], p["principal"], p["gift"]) for p in o["breakdown"]["payments"]] == [("STORED_VALUE", 64_260, 53_550, 10_710)]
    assert o["pointsEarned"] == 535
    again = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"]}], key="co-1")
    assert again == paid

    m = (await demo.gql(MEMBER, {"id": member["id"]}, as_="manager"))["member"]
    assert m["storedValueCards"] == [{"id": card["id"], "principal": 46_450, "gift": 9_290, "balance": 55_740}]
    assert m["points"] == 535

    lines = (await demo.gql("query($f: Date!, $t: Date!) { crossStoreSettlement(from: $f, to: $t) { payerStore { id } payeeStore { id } consumed settlementAmount items } }",
                            {"f": today(), "t": today()}, as_="finance"))["crossStoreSettlement"]
    assert lines == [{"payerStore": {"id": demo.xuhui}, "payeeStore": {"id": demo.jingan}, "consumed": 64_260, "settlementAmount": 57_834, "items": 1}]
    await assert_ledger_ok(engine)


async def test_over_balance_checkout_is_refused_with_nothing_moved(demo, engine):
    member = await demo.register()
    card = (await demo.top_up(member["id"], 50_000, product="银卡"))["card"]  # 充500送50 → 55000
    spa = demo.services["精油全身SPA"]["id"]
    order = await open_order(demo, [{"serviceId": spa}], member_id=member["id"])
    before = await snapshot(engine)
    # 银卡 95折: 58800 → 55860 > 55000.
    result = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"]}])
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INSUFFICIENT_BALANCE", "payments.0.cardId")]
    assert result["errors"][0]["message"] == "卡内余额不足（可用¥550.00）"
    assert await snapshot(engine) == before
    mixed = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"], "amount": 55_000}, {"method": "CASH"}])
    assert mixed["errors"] == []
    # The card's 95折 only on what the card pays: ¥550 buys floor(55000 × 100 / 95) = 57894 of list
    # price (2894 off); the other ¥9.06 of list price is paid in cash at list.
    assert [(p["method"], p["amount"]) for p in mixed["order"]["breakdown"]["payments"]] == [("STORED_VALUE", 55_000), ("CASH", 906)]
    assert (mixed["order"]["discount"], mixed["order"]["total"]) == (2_894, 55_906)
    await assert_ledger_ok(engine)


async def test_count_card_sold_then_used_within_its_daily_limit(demo, engine):
    member = await demo.register()
    sale = await open_order(demo, [{"countCardProductId": demo.count_card_products["面部清洁10次卡"]}], member_id=member["id"])
    paid = await checkout(demo, sale["id"], [{"method": "CASH"}])
    assert (paid["errors"], paid["order"]["total"], paid["order"]["pointsEarned"]) == ([], 200_000, 2_000)
    cards = (await demo.gql(MEMBER, {"id": member["id"]}, as_="reception"))["member"]["countCards"]
    assert [(c["product"]["name"], c["remaining"]) for c in cards] == [("面部清洁10次卡", 10)]
    count_card = cards[0]["id"]

    facial = demo.services["面部深层清洁"]["id"]
    visit = await open_order(demo, [{"serviceId": facial}], member_id=member["id"])
    used = await checkout(demo, visit["id"], [{"method": "COUNT_CARD", "countCardId": count_card}])
    assert used["errors"] == []
    o = used["order"]
    # 200000 ÷ 10 sessions = 20000 recognised; the 29800 list price's rest is the card's discount.
    assert (o["listTotal"], o["discount"], o["total"], o["pointsEarned"]) == (29_800, 9_800, 20_000, 0)
    assert o["lines"][0]["coveredByCountCard"] == 1
    assert [(p["method"], p["amount"], p["countCardId"]) for p in o["breakdown"]["payments"]] == [("COUNT_CARD", 20_000, count_card)]
    assert (await demo.gql(MEMBER, {"id": member["id"]}, as_="reception"))["member"]["countCards"][0]["remaining"] == 9

    second = await open_order(demo, [{"serviceId": facial}], member_id=member["id"])
    before = await snapshot(engine)
    refused = await checkout(demo, second["id"], [{"method": "COUNT_CARD", "countCardId": count_card}])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("DAILY_LIMIT_REACHED", "payments.0.countCardId")]
    assert await snapshot(engine) == before
    wrong = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member["id"])
    refused = await checkout(demo, wrong["id"], [{"method": "COUNT_CARD", "countCardId": count_card}])
    assert [e["code"] for e in refused["errors"]] == ["COUNT_CARD_NOT_FOR_SERVICE"]
    await assert_ledger_ok(engine)


async def test_payments_must_add_up_and_be_well_formed(demo, engine):
    member = await demo.register()
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member["id"])
    before = await snapshot(engine)
    cases = [
        ([{"method": "CASH", "amount": 8_000}], "PAYMENT_MISMATCH", "payments"),
        ([{"method": "CASH", "amount": 9_000}], "PAYMENT_MISMATCH", "payments"),
        ([{"method": "CASH"}, {"method": "BANK_CARD"}], "PAYMENT_INVALID", "payments"),
        ([{"method": "CASH", "amount": 8_800}, {"method": "BANK_CARD"}], "PAYMENT_MISMATCH", "payments"),
        ([{"method": "CASH", "amount": 0}], "AMOUNT_NOT_POSITIVE", "payments.0.amount"),
        ([{"method": "STORED_VALUE"}], "REQUIRED", "payments.0.cardId"),
        ([{"method": "COUNT_CARD"}], "REQUIRED", "payments.0.countCardId"),
        ([{"method": "ON_ACCOUNT"}], "CREDIT_LIMIT_EXCEEDED", "payments"),
        ([], "PAYMENT_INVALID", "payments"),
    ]
    for payments, code, field in cases:
        result = await checkout(demo, order["id"], payments)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)], payments
    assert await snapshot(engine) == before
    ok = await checkout(demo, order["id"], [{"method": "CASH", "amount": 5_000}, {"method": "WECHAT"}])
    assert [(p["method"], p["amount"]) for p in ok["order"]["breakdown"]["payments"]] == [("CASH", 5_000), ("WECHAT", 3_800)]
    twice = await checkout(demo, order["id"], [{"method": "CASH"}])
    assert [e["code"] for e in twice["errors"]] == ["ORDER_NOT_OPEN"]


async def test_one_card_twice_in_a_checkout_and_unknown_coupons_are_coded_refusals(demo, engine):
    """Two payments of one card would write that card's statement twice for one transfer; a coupon
    code that does not exist (even "%") is COUPON_NOT_FOUND. Neither moves anything."""
    member = await demo.register()
    card = (await demo.top_up(member["id"], 100_000))["card"]
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member["id"])
    before = await snapshot(engine)
    twice = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"], "amount": 4_000},
                                               {"method": "STORED_VALUE", "cardId": card["id"]}])
    assert [(e["code"], e["field"]) for e in twice["errors"]] == [("PAYMENT_INVALID", "payments")]
    for code in ("%", "NOPE-1", "x" * 64):
        result = (await demo.gql(
            "mutation($i: CheckoutInput!) { checkout(input: $i) { order { id } errors { code field message } } }",
            {"i": {"orderId": order["id"], "couponCodes": [code], "payments": [{"method": "CASH"}], "idempotencyKey": f"cp-{len(code)}"}},
            as_="reception",
        ))["checkout"]
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("COUPON_NOT_FOUND", "couponCodes.0")]
        assert code in result["errors"][0]["message"]
    assert await snapshot(engine) == before
    await assert_ledger_ok(engine)


async def test_on_account_within_the_credit_limit_and_repayment(demo, engine):
    member = await demo.register()
    limit = (await demo.gql("mutation($i: SetCreditLimitInput!) { setCreditLimit(input: $i) { member { onAccount { debt creditLimit available } } errors { code } } }",
                            {"i": {"memberId": member["id"], "limit": 50_000}}, as_="manager"))["setCreditLimit"]
    assert limit == {"member": {"onAccount": {"debt": 0, "creditLimit": 50_000, "available": 50_000}}, "errors": []}
    spa = demo.services["精油全身SPA"]["id"]
    order = await open_order(demo, [{"serviceId": spa}], member_id=member["id"])
    before = await snapshot(engine)
    over = await checkout(demo, order["id"], [{"method": "ON_ACCOUNT"}])
    assert [(e["code"], e["message"]) for e in over["errors"]] == [("CREDIT_LIMIT_EXCEEDED", "超出挂账额度（可用¥500.00）")]
    assert await snapshot(engine) == before
    ok = await checkout(demo, order["id"], [{"method": "ON_ACCOUNT", "amount": 50_000}, {"method": "CASH"}])
    assert ok["errors"] == []
    assert ok["order"]["pointsEarned"] == 88  # only the ¥88 of cash counts
    credit = (await demo.gql(MEMBER, {"id": member["id"]}, as_="reception"))["member"]["onAccount"]
    assert credit == {"debt": 50_000, "creditLimit": 50_000, "available": 0}
    lower = (await demo.gql("mutation($i: SetCreditLimitInput!) { setCreditLimit(input: $i) { errors { code } } }", {"i": {"memberId": member["id"], "limit": 10_000}}, as_="manager"))["setCreditLimit"]
    assert lower["errors"] == [{"code": "CREDIT_LIMIT_BELOW_DEBT"}]
    repay = "mutation($i: RepayOnAccountInput!) { repayOnAccount(input: $i) { member { onAccount { debt available } } errors { code } } }"
    over = (await demo.gql(repay, {"i": {"memberId": member["id"], "storeId": demo.jingan, "amount": 50_001, "tender": "CASH", "idempotencyKey": "r0"}}, as_="reception"))["repayOnAccount"]
    assert over["errors"] == [{"code": "OVERPAYMENT"}]
    done = (await demo.gql(repay, {"i": {"memberId": member["id"], "storeId": demo.jingan, "amount": 30_000, "tender": "CASH", "idempotencyKey": "r1"}}, as_="reception"))["repayOnAccount"]
    assert done == {"member": {"onAccount": {"debt": 20_000, "available": 30_000}}, "errors": []}
    # Refunding the sale: the 20000 still owed is written off, the 30000 already repaid comes back in cash.
    back = (await demo.gql("mutation($i: RefundOrderInput!) { refundOrder(input: $i) { refund { amount } errors { code } } }",
                           {"i": {"orderId": order["id"], "reason": "取消", "idempotencyKey": "rf"}}, as_="manager"))["refundOrder"]
    assert back == {"refund": {"amount": 58_800}, "errors": []}
    credit = (await demo.gql(MEMBER, {"id": member["id"]}, as_="reception"))["member"]["onAccount"]
    assert credit == {"debt": 0, "creditLimit": 50_000, "available": 50_000}
    async with read_transaction(engine) as db:
        rows = list(await db.execute(text("SELECT method, amount FROM refund_payments ORDER BY id")))
    assert [tuple(r) for r in rows] == [("CASH", 30_000), ("ON_ACCOUNT", 20_000), ("CASH", 8_800)]
    await assert_ledger_ok(engine)


async def test_store_price_overrides_the_brand_price_at_that_store_only(demo):
    nails = demo.services["日式美甲"]["id"]
    set_price = "mutation($i: SetStorePriceInput!) { setStorePrice(input: $i) { ok errors { code } } }"
    assert (await demo.gql(set_price, {"i": {"storeId": demo.jingan, "itemId": nails, "price": 15_800}}, as_="manager"))["setStorePrice"] == {"ok": True, "errors": []}
    refused = (await demo.gql(set_price, {"i": {"storeId": demo.xuhui, "itemId": nails, "price": 1}}, as_="manager"))["setStorePrice"]
    assert refused["errors"] == [{"code": "STORE_FORBIDDEN"}]
    here = await open_order(demo, [{"serviceId": nails, "quantity": 2}])
    there = await open_order(demo, [{"serviceId": nails}], store=demo.xuhui, as_="owner")
    assert (here["total"], there["total"]) == (31_600, 16_800)


async def test_another_stores_order_reveals_nothing_of_its_state(demo):
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], store=demo.xuhui, as_="owner")
    await demo.gql("mutation($i: OrderInput!) { holdOrder(input: $i) { errors { code } } }", {"i": {"orderId": order["id"]}}, as_="owner")
    refused = await checkout(demo, order["id"], [{"method": "CASH"}], as_="reception")
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("STORE_FORBIDDEN", "orderId")]
    refund = (await demo.gql("mutation($i: RefundOrderInput!) { refundOrder(input: $i) { errors { code } } }",
                             {"i": {"orderId": order["id"], "reason": "x", "idempotencyKey": "k"}}, as_="manager"))["refundOrder"]
    assert refund["errors"] == [{"code": "STORE_FORBIDDEN"}]


async def test_a_top_up_sold_in_an_order_is_a_deposit_with_its_bonus_and_refunds_while_unspent(demo, engine):
    member = await demo.register()
    nails = demo.services["日式美甲"]["id"]
    order = await open_order(demo, [{"topUpCardProductId": demo.products["金卡"], "amount": 300_000}, {"serviceId": nails}], member_id=member["id"])
    assert order["total"] == 316_800
    refused = await checkout(demo, order["id"], [{"method": "ON_ACCOUNT"}])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("PAYMENT_INVALID", "payments.0.method")]
    paid = await checkout(demo, order["id"], [{"method": "BANK_CARD", "amount": 300_000}, {"method": "CASH"}])
    assert paid["errors"] == []
    assert (paid["order"]["total"], paid["order"]["pointsEarned"]) == (316_800, 168)  # the deposit earns when spent
    m = (await demo.gql(MEMBER, {"id": member["id"]}, as_="manager"))["member"]
    # 充3000送800, on the member's new 金卡.
    assert [(c["principal"], c["gift"]) for c in m["storedValueCards"]] == [(300_000, 80_000)]
    close = (await demo.gql("query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) { sales { total byCategory { category } } payments { total } topUps { principal gift count byMethod { method amount } } } }",
                            {"s": demo.jingan, "d": today()}, as_="manager"))["dailyClose"]
    # A deposit is not a sale; the demo seed's own 充1000送200 at 静安店 is in the day too.
    assert close["sales"]["total"] == 16_800 and [c["category"] for c in close["sales"]["byCategory"]] == ["美甲"]
    assert close["payments"]["total"] == 316_800
    assert (close["topUps"]["principal"], close["topUps"]["gift"], close["topUps"]["count"]) == (400_000, 100_000, 2)
    assert close["topUps"]["byMethod"] == [{"method": "CASH", "amount": 100_000}]

    top_up_line = next(l["id"] for l in paid["order"]["lines"] if l["name"] == "充值·金卡")
    refund = "mutation($i: RefundOrderInput!) { refundOrder(input: $i) { refund { amount } errors { code field } } }"
    card = m["storedValueCards"][0]["id"]
    spend = await open_order(demo, [{"serviceId": demo.services["精油全身SPA"]["id"]}], member_id=member["id"])
    await checkout(demo, spend["id"], [{"method": "STORED_VALUE", "cardId": card, "amount": 49_980}])
    before = await snapshot(engine)
    short = (await demo.gql(refund, {"i": {"orderId": order["id"], "reason": "退充值", "idempotencyKey": "r1", "lines": [{"lineId": top_up_line}]}}, as_="manager"))["refundOrder"]
    assert short["errors"] == [{"code": "NOT_REFUNDABLE", "field": "lines"}]
    assert await snapshot(engine) == before
    await demo.gql(refund, {"i": {"orderId": spend["id"], "reason": "撤销消费", "idempotencyKey": "r2"}}, as_="manager")
    back = (await demo.gql(refund, {"i": {"orderId": order["id"], "reason": "退充值", "idempotencyKey": "r3", "lines": [{"lineId": top_up_line}]}}, as_="manager"))["refundOrder"]
    assert back == {"refund": {"amount": 300_000}, "errors": []}
    m = (await demo.gql(MEMBER, {"id": member["id"]}, as_="manager"))["member"]
    assert [(c["principal"], c["gift"]) for c in m["storedValueCards"]] == [(0, 0)]
    await assert_ledger_ok(engine)


async def test_a_token_card_payment_earns_no_discount_and_a_line_refund_returns_to_its_own_tenders(demo, engine):
    member = await demo.register()
    card = (await demo.top_up(member["id"], 100_000))["card"]  # 金卡 85折, 100000 + 20000 gift
    spa, rose = demo.services["精油全身SPA"]["id"], demo.retail["玫瑰精华水"]
    token = await open_order(demo, [{"serviceId": spa}, {"serviceId": spa}], member_id=member["id"])
    paid = await checkout(demo, token["id"], [{"method": "STORED_VALUE", "cardId": card["id"], "amount": 1}, {"method": "CASH"}])
    assert (paid["order"]["discount"], paid["order"]["total"]) == (0, 117_600)

    order = await open_order(demo, [{"serviceId": spa}, {"productId": rose, "quantity": 10}], member_id=member["id"])
    paid = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"], "amount": 49_980}, {"method": "CASH"}])
    assert [(p["method"], p["amount"], p["principal"], p["gift"]) for p in paid["order"]["breakdown"]["payments"]] == [
        ("STORED_VALUE", 49_980, 41_650, 8_330), ("CASH", 168_000, 0, 0)]
    spa_line = next(l["id"] for l in paid["order"]["lines"] if l["name"] == "精油全身SPA")
    refund = "mutation($i: RefundOrderInput!) { refundOrder(input: $i) { refund { amount } errors { code } } }"
    done = (await demo.gql(refund, {"i": {"orderId": order["id"], "reason": "过敏", "idempotencyKey": "spa", "lines": [{"lineId": spa_line}]}}, as_="manager"))["refundOrder"]
    assert done == {"refund": {"amount": 49_980}, "errors": []}
    after = (await demo.gql("query($id: ID!) { order(id: $id) { breakdown { payments { method refundedAmount } } } }", {"id": order["id"]}, as_="manager"))["order"]
    # The SPA went back to the card that paid it, principal and gift as taken; not a fen of it in cash.
    assert [(p["method"], p["refundedAmount"]) for p in after["breakdown"]["payments"]] == [("STORED_VALUE", 49_980), ("CASH", 0)]
    m = (await demo.gql(MEMBER, {"id": member["id"]}, as_="manager"))["member"]
    assert [(c["principal"], c["gift"]) for c in m["storedValueCards"]] == [(100_000 - 1, 20_000)]
    await assert_ledger_ok(engine)
