"""日结: one store's business day through the staff API, every figure worked by hand in fen, and
proof that the report agrees with what the ledger itself moved (DESIGN.md §4, §7)."""

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tests.support import assert_ledger_ok, checkout, open_order

DAILY_CLOSE = """query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) {
  date store { id }
  sales { total listTotal discount orders byCategory { category quantity listAmount discount netAmount } }
  payments { total byMethod { method amount } }
  topUps { principal gift count byMethod { method amount } }
  storedValueSpent { principal gift total }
  countCardSessions couponsRedeemed
  refunds { count amount sessionsReturned byMethod { method amount } }
  onAccount { charged repaid refunded netChange }
  ledgerTenderMovements { method amount } } }"""

REFUND = """mutation($i: RefundOrderInput!) { refundOrder(input: $i) { refund { amount } errors { code field } } }"""
REPAY = """mutation($i: RepayOnAccountInput!) { repayOnAccount(input: $i) { member { onAccount { debt } } errors { code } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { storedValueCards { id } countCards { id } } }"""
DESK_TENDERS = ("CASH", "BANK_CARD", "WECHAT", "ALIPAY")


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def by_method(items: list[dict]) -> dict[str, int]:
    return {i["method"]: i["amount"] for i in items}


async def close(demo, store: str, day: dt.date | None = None, as_: str = "finance") -> dict:
    return (await demo.gql(DAILY_CLOSE, {"s": store, "d": (day or today()).isoformat()}, as_=as_))["dailyClose"]


async def paid(demo, lines: list[dict], payments: list[dict], *, member_id: str | None = None, store: str | None = None, as_: str = "reception") -> dict:
    order = await open_order(demo, lines, member_id=member_id, store=store, as_=as_)
    result = await checkout(demo, order["id"], payments, as_=as_)
    assert result["errors"] == [], result
    return result["order"]


async def refund(demo, order_id: str, lines: list[dict] | None = None, *, as_: str = "manager") -> int:
    payload = {"orderId": order_id, "reason": "顾客不满意", "idempotencyKey": uuid.uuid4().hex}
    if lines is not None:
        payload["lines"] = lines
    result = (await demo.gql(REFUND, {"i": payload}, as_=as_))["refundOrder"]
    assert result["errors"] == [], result
    return result["refund"]["amount"]


async def repay(demo, member_id: str, store: str, amount: int, tender: str, *, as_: str = "reception") -> int:
    result = (await demo.gql(REPAY, {"i": {"memberId": member_id, "storeId": store, "amount": amount, "tender": tender,
                                          "idempotencyKey": uuid.uuid4().hex}}, as_=as_))["repayOnAccount"]
    assert result["errors"] == [], result
    return result["member"]["onAccount"]["debt"]


@dataclass
class Day:
    repaid_at_jingan: dict
    repaid_at_xuhui: dict


async def busy_day(demo) -> Day:
    """A day at 静安店 with every kind of activity, plus 徐汇店 activity that must stay out of it.
    The demo seed already topped up 张小美's 金卡 with ¥1000 CASH (送200) at 静安店 and 王芳's 银卡
    with ¥500 CASH (送50) at 徐汇店 today."""
    cut, nails, spa, facial = (demo.services[n]["id"] for n in ("洗剪吹", "日式美甲", "精油全身SPA", "面部深层清洁"))
    rose = demo.retail["玫瑰精华水"]
    m1, m2, m3, m4 = [await demo.register(n) for n in ("日结甲", "日结乙", "日结丙", "日结丁")]

    # Top-ups at 静安店.
    assert (await demo.top_up(m1["id"], 100_000, tender="WECHAT"))["bonus"] == 20_000          # 金卡 充1000送200
    assert (await demo.top_up(m2["id"], 50_000, product="银卡", tender="CASH"))["bonus"] == 5_000  # 银卡 充500送50

    # Checkouts at 静安店, one per tender.
    await paid(demo, [{"serviceId": cut}], [{"method": "CASH"}])                                  # O1 8800
    await paid(demo, [{"serviceId": nails}], [{"method": "BANK_CARD"}])                           # O2 16800
    await paid(demo, [{"productId": rose}], [{"method": "WECHAT"}])                               # O3 16800
    o4 = await paid(demo, [{"serviceId": nails, "quantity": 2}, {"serviceId": cut}],
                    [{"method": "CASH", "amount": 10_000}, {"method": "ALIPAY"}])                 # O4 42400 = 10000 + 32400
    m1_card = (await demo.gql(MEMBER, {"id": m1["id"]}, as_="reception"))["member"]["storedValueCards"][0]["id"]
    o5 = await paid(demo, [{"serviceId": spa}, {"productId": rose}], [{"method": "STORED_VALUE", "cardId": m1_card}], member_id=m1["id"])
    # 85折 on the service only: 49980 + 16800 = 66780; gift floor(66780 × 20000 ÷ 120000) = 11130, principal 55650.
    assert [(p["principal"], p["gift"]) for p in o5["breakdown"]["payments"]] == [(55_650, 11_130)]
    await paid(demo, [{"countCardProductId": demo.count_card_products["面部清洁10次卡"]}], [{"method": "CASH"}], member_id=m1["id"])  # O6 200000
    count_card = (await demo.gql(MEMBER, {"id": m1["id"]}, as_="reception"))["member"]["countCards"][0]["id"]
    o7 = await paid(demo, [{"serviceId": facial}], [{"method": "COUNT_CARD", "countCardId": count_card}], member_id=m1["id"])
    assert o7["total"] == 20_000  # 200000 ÷ 10 sessions
    limit = (await demo.gql("mutation($i: SetCreditLimitInput!) { setCreditLimit(input: $i) { errors { code } } }",
                            {"i": {"memberId": m3["id"], "limit": 100_000}}, as_="manager"))["setCreditLimit"]
    assert limit["errors"] == []
    o8 = await paid(demo, [{"serviceId": spa}, {"serviceId": cut}], [{"method": "ON_ACCOUNT"}], member_id=m3["id"])  # O8 67600

    # Refunds at 静安店: one 日式美甲 of O4. Its 日式美甲 line (33600) was paid by the 10000 cash (other tenders pay
    # in order) and 23600 of Alipay, so one unit (16800) goes back cash floor(10000 × 16800 ÷ 33600) = 5000 and
    # Alipay floor(23600 × 16800 ÷ 33600) = 11800; and O8's 洗剪吹, 8800 back on account.
    assert await refund(demo, o4["id"], [{"lineId": o4["lines"][0]["id"], "quantity": 1}]) == 16_800
    assert await refund(demo, o8["id"], [{"lineId": o8["lines"][1]["id"], "quantity": 1}]) == 8_800
    # On-account repayment at 静安店: 67600 − 8800 − 30000 = 28800 still owed.
    assert await repay(demo, m3["id"], demo.jingan, 30_000, "WECHAT") == 28_800

    # 徐汇店, by the owner: none of this may show in 静安店's close.
    assert (await demo.top_up(m4["id"], 100_000, store=demo.xuhui, tender="ALIPAY", as_="owner"))["bonus"] == 20_000
    x1 = await paid(demo, [{"serviceId": cut}], [{"method": "CASH"}], store=demo.xuhui, as_="owner")  # X1 8800, refunded whole
    assert await refund(demo, x1["id"], as_="owner") == 8_800
    # m1's card (sold at 静安店, 44350 / 8870 left) pays 16800 × 85% = 14280 at 徐汇店:
    # gift floor(14280 × 8870 ÷ 53220) = 2380, principal 11900.
    x2 = await paid(demo, [{"serviceId": nails}], [{"method": "STORED_VALUE", "cardId": m1_card}], member_id=m1["id"], store=demo.xuhui, as_="owner")
    assert [(p["principal"], p["gift"]) for p in x2["breakdown"]["payments"]] == [(11_900, 2_380)]
    assert await repay(demo, m3["id"], demo.xuhui, 10_000, "CASH", as_="owner") == 18_800
    return Day(repaid_at_jingan={"WECHAT": 30_000}, repaid_at_xuhui={"CASH": 10_000})


async def test_daily_close_of_a_busy_day_by_hand(demo, engine):
    await busy_day(demo)
    day = today()
    report = await close(demo, demo.jingan)
    assert (report["date"], report["store"]) == (day.isoformat(), {"id": demo.jingan})

    # Sales: the eight orders paid at 静安店 today, refunds not netted (they have their own section).
    #   美发   O1 洗剪吹 + O4 洗剪吹 + O8 洗剪吹           3 × 8800  = 26400
    #   美甲   O2 日式美甲 + O4 日式美甲 × 2             3 × 16800 = 50400
    #   护肤品 O3 玫瑰精华水 + O5 玫瑰精华水             2 × 16800 = 33600
    #   身体护理 O5 SPA (85折: −8820) + O8 SPA          117600, discount 8820, net 108780
    #   次卡   O6 面部清洁10次卡                         200000
    #   面部护理 O7 面部深层清洁 on the count card       29800, discount 9800, net 20000
    sales = report["sales"]
    assert (sales["total"], sales["listTotal"], sales["discount"], sales["orders"]) == (439_180, 457_800, 18_620, 8)
    assert sorted((c["category"], c["quantity"], c["listAmount"], c["discount"], c["netAmount"]) for c in sales["byCategory"]) == sorted([
        ("美发", 3, 26_400, 0, 26_400),
        ("美甲", 3, 50_400, 0, 50_400),
        ("护肤品", 2, 33_600, 0, 33_600),
        ("身体护理", 2, 117_600, 8_820, 108_780),
        ("次卡", 1, 200_000, 0, 200_000),
        ("面部护理", 1, 29_800, 9_800, 20_000),
    ])

    # Payments: CASH O1 8800 + O4 10000 + O6 200000; ALIPAY O4's 32400; the rest one order each.
    assert report["payments"]["total"] == 439_180
    assert by_method(report["payments"]["byMethod"]) == {
        "CASH": 218_800, "BANK_CARD": 16_800, "WECHAT": 16_800, "ALIPAY": 32_400,
        "STORED_VALUE": 66_780, "COUNT_CARD": 20_000, "ON_ACCOUNT": 67_600,
    }
    assert [m["method"] for m in report["payments"]["byMethod"]] == sorted(by_method(report["payments"]["byMethod"]))

    # Top-ups: the seed's 100000 CASH (送20000), m1's 100000 WECHAT (送20000), m2's 50000 CASH (送5000).
    assert report["topUps"] == {"principal": 250_000, "gift": 45_000, "count": 3,
                                "byMethod": [{"method": "CASH", "amount": 150_000}, {"method": "WECHAT", "amount": 100_000}]}
    # Stored value spent here: only O5 (m1's spend at 徐汇店 is 徐汇店's).
    assert report["storedValueSpent"] == {"principal": 55_650, "gift": 11_130, "total": 66_780}
    assert (report["countCardSessions"], report["couponsRedeemed"]) == (1, 0)
    assert report["refunds"] == {"count": 2, "amount": 25_600, "sessionsReturned": 0,
                                 "byMethod": [{"method": "ALIPAY", "amount": 11_800}, {"method": "CASH", "amount": 5_000},
                                              {"method": "ON_ACCOUNT", "amount": 8_800}]}
    # On account: 67600 charged, 30000 repaid here (the 10000 at 徐汇店 is not), 8800 refunded.
    assert report["onAccount"] == {"charged": 67_600, "repaid": 30_000, "refunded": 8_800, "netChange": 28_800}
    # The ledger: CASH 150000 top-ups + 218800 − 5000; WECHAT 100000 + 16800 + 30000 repaid; ALIPAY 32400 − 11800.
    assert by_method(report["ledgerTenderMovements"]) == {
        "CASH": 363_800, "BANK_CARD": 16_800, "WECHAT": 146_800, "ALIPAY": 20_600, "ON_ACCOUNT": 28_800,
    }

    # 徐汇店's own day holds what 静安店's left out.
    other = await close(demo, demo.xuhui)
    assert (other["sales"]["total"], other["sales"]["listTotal"], other["sales"]["discount"], other["sales"]["orders"]) == (23_080, 25_600, 2_520, 2)
    assert by_method(other["payments"]["byMethod"]) == {"CASH": 8_800, "STORED_VALUE": 14_280}
    assert other["topUps"] == {"principal": 150_000, "gift": 25_000, "count": 2,
                               "byMethod": [{"method": "ALIPAY", "amount": 100_000}, {"method": "CASH", "amount": 50_000}]}
    assert other["storedValueSpent"] == {"principal": 11_900, "gift": 2_380, "total": 14_280}
    assert other["refunds"] == {"count": 1, "amount": 8_800, "sessionsReturned": 0, "byMethod": [{"method": "CASH", "amount": 8_800}]}
    assert other["onAccount"] == {"charged": 0, "repaid": 10_000, "refunded": 0, "netChange": -10_000}
    assert by_method(other["ledgerTenderMovements"]) == {"CASH": 60_000, "ALIPAY": 100_000, "ON_ACCOUNT": -10_000}

    # The store's own manager sees the same report.
    assert await close(demo, demo.jingan, as_="manager") == report
    await assert_ledger_ok(engine)


async def test_daily_close_agrees_with_the_ledger(demo, engine):
    day = await busy_day(demo)
    for store, repaid in ((demo.jingan, day.repaid_at_jingan), (demo.xuhui, day.repaid_at_xuhui)):
        report = await close(demo, store)
        payments, refunds = by_method(report["payments"]["byMethod"]), by_method(report["refunds"]["byMethod"])
        top_ups, ledger = by_method(report["topUps"]["byMethod"]), by_method(report["ledgerTenderMovements"])
        for method in DESK_TENDERS:
            expected = payments.get(method, 0) - refunds.get(method, 0) + top_ups.get(method, 0) + repaid.get(method, 0)
            assert expected == ledger.get(method, 0), (store, method, expected, ledger)
        assert report["onAccount"]["netChange"] == ledger.get("ON_ACCOUNT", 0), (store, report["onAccount"], ledger)
        on_account = report["onAccount"]
        assert on_account["netChange"] == on_account["charged"] - on_account["repaid"] - on_account["refunded"]
        assert (on_account["charged"], on_account["refunded"]) == (payments.get("ON_ACCOUNT", 0), refunds.get("ON_ACCOUNT", 0))
        assert on_account["repaid"] == sum(repaid.values())
        # Sales and payments are two views of the same orders; a refund's amount is what its tenders got back.
        assert report["sales"]["total"] == report["payments"]["total"] == sum(payments.values())
        assert report["refunds"]["amount"] == sum(refunds.values())
        assert report["storedValueSpent"]["total"] == payments.get("STORED_VALUE", 0)
        assert report["topUps"]["principal"] == sum(top_ups.values())
    await assert_ledger_ok(engine)


async def test_a_day_without_activity_is_all_zeros(demo, engine):
    await paid(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], [{"method": "CASH"}])
    empty = {
        "sales": {"total": 0, "listTotal": 0, "discount": 0, "orders": 0, "byCategory": []},
        "payments": {"total": 0, "byMethod": []},
        "topUps": {"principal": 0, "gift": 0, "count": 0, "byMethod": []},
        "storedValueSpent": {"principal": 0, "gift": 0, "total": 0},
        "countCardSessions": 0, "couponsRedeemed": 0,
        "refunds": {"count": 0, "amount": 0, "sessionsReturned": 0, "byMethod": []},
        "onAccount": {"charged": 0, "repaid": 0, "refunded": 0, "netChange": 0},
        "ledgerTenderMovements": [],
    }
    for day in (today() - dt.timedelta(days=1), today() + dt.timedelta(days=1), dt.date(2020, 1, 1)):
        report = await close(demo, demo.jingan, day)
        assert report == {"date": day.isoformat(), "store": {"id": demo.jingan}, **empty}, day
    # 徐汇店 had nothing today at all but the seed's top-up of 王芳's 银卡.
    report = await close(demo, demo.xuhui)
    assert report["topUps"] == {"principal": 50_000, "gift": 5_000, "count": 1, "byMethod": [{"method": "CASH", "amount": 50_000}]}
    assert {k: v for k, v in report.items() if k not in ("topUps", "ledgerTenderMovements", "date", "store")} == {k: v for k, v in empty.items() if k not in ("topUps", "ledgerTenderMovements")}
    assert report["ledgerTenderMovements"] == [{"method": "CASH", "amount": 50_000}]
    await assert_ledger_ok(engine)


async def test_a_manager_of_another_store_may_not_see_its_close(demo, engine):
    created = (await demo.gql(
        "mutation($i: CreateStaffInput!) { createStaff(input: $i) { staff { id } errors { code } } }",
        {"i": {"username": "xuhui-manager", "name": "徐店长", "role": "STORE_MANAGER", "password": "meiye-demo-xuhui", "storeId": demo.xuhui}},
        as_="owner",
    ))["createStaff"]
    assert created["errors"] == [], created
    token = await demo.gql.login("xuhui-manager", "meiye-demo-xuhui")
    await paid(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], [{"method": "CASH"}])
    for store, kwargs in ((demo.jingan, {"token": token}), (demo.xuhui, {"as_": "manager"})):
        body = await demo.gql.raw(DAILY_CLOSE, {"s": store, "d": today().isoformat()}, **kwargs)
        assert body.get("data") is None, body
        assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [("STORE_FORBIDDEN", "storeId")], body
    # A store that is not there (here: a member's id) is NOT_FOUND.
    member = await demo.register()
    missing = await demo.gql.raw(DAILY_CLOSE, {"s": member["id"], "d": today().isoformat()}, as_="owner")
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in missing["errors"]] == [("NOT_FOUND", "storeId")]
    # Each sees its own store; a receptionist sees none.
    assert (await demo.gql(DAILY_CLOSE, {"s": demo.xuhui, "d": today().isoformat()}, token=token))["dailyClose"]["sales"]["orders"] == 0
    assert (await close(demo, demo.jingan, as_="manager"))["sales"]["orders"] == 1
    denied = await demo.gql.raw(DAILY_CLOSE, {"s": demo.jingan, "d": today().isoformat()}, as_="reception")
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    await assert_ledger_ok(engine)
