"""refundOrder through the staff API (DESIGN.md §4, §7), with hand-worked figures in fen.

Money goes back to the tenders that paid in proportion, cumulatively (`domain.refunds.allocate`):
each tender gets floor(paid × refunded-so-far ÷ total) − already returned, and the fen left over go
to the tenders in order. Stored value returns as the principal and gift it took; count-card
sessions return; count cards bought come back only unused."""

import base64
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import text

from domain.db import read_transaction
from tests.support import assert_ledger_ok, checkout, open_order

REFUND = """mutation($i: RefundOrderInput!) { refundOrder(input: $i) {
  refund { id amount sessionsReturned order { id status refunded pointsEarned
    lines { id refundedQuantity refundedAmount }
    breakdown { payments { method amount refundedAmount principal gift } } } }
  errors { code field message } } }"""

MEMBER = """query($id: ID!) { member(id: $id) { points
  storedValueCards { id principal gift balance }
  countCards { id remaining status product { name } }
  onAccount { debt creditLimit available } } }"""

ORDER = """query($id: ID!) { order(id: $id) { id status refunded
  lines { id refundedQuantity refundedAmount }
  breakdown { payments { method amount refundedAmount principal gift } } } }"""

SETTLEMENT = """query($f: Date!, $t: Date!) { crossStoreSettlement(from: $f, to: $t) {
  payerStore { id } payeeStore { id } consumed settlementAmount items } }"""

SNAPSHOT_COUNTS = ("transfers", "postings", "refunds", "refund_payments", "settlement_items", "card_entries", "count_card_uses",
                   "order_payments", "count_cards", "idempotency_keys", "audit_log")


def today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


async def snapshot(engine) -> tuple:
    """Row counts of everything a refund writes, every account balance, and the refund state of
    every order, line, payment, count card and member."""
    async with read_transaction(engine) as db:
        counts = [await db.scalar(text(f"SELECT count(*) FROM {t}")) for t in SNAPSHOT_COUNTS]
        states = [
            tuple(await db.execute(text(sql)))
            for sql in (
                "SELECT id, balance FROM accounts ORDER BY id",
                "SELECT id, status, refunded, version FROM orders ORDER BY id",
                "SELECT id, refunded_quantity, refunded_amount FROM order_lines ORDER BY id",
                "SELECT id, refunded_amount, refunded_principal, refunded_gift FROM order_payments ORDER BY id",
                "SELECT id, status, sessions_left FROM count_cards ORDER BY id",
                "SELECT id, points FROM members ORDER BY id",
            )
        ]
    return tuple(counts) + tuple(states)


async def refund(demo, order_id: str, *, lines: list | None = None, reason: str | None = "顾客不满意", key: str | None = None,
                 as_: str = "manager") -> dict:
    payload = {"orderId": order_id, "idempotencyKey": key or uuid.uuid4().hex}
    if reason is not None:
        payload["reason"] = reason
    if lines is not None:
        payload["lines"] = lines
    return (await demo.gql(REFUND, {"i": payload}, as_=as_))["refundOrder"]


async def member(demo, member_id: str) -> dict:
    return (await demo.gql(MEMBER, {"id": member_id}, as_="manager"))["member"]


def tenders(order: dict) -> list[tuple]:
    return [(p["method"], p["amount"], p["refundedAmount"], p["principal"], p["gift"]) for p in order["breakdown"]["payments"]]


def codes(result: dict) -> list[tuple]:
    return [(e["code"], e["field"]) for e in result["errors"]]


async def paid(demo, lines: list[dict], payments: list[dict], *, member_id: str | None = None, store: str | None = None,
               as_: str = "reception") -> dict:
    order = await open_order(demo, lines, member_id=member_id, store=store, as_=as_)
    result = await checkout(demo, order["id"], payments, as_=as_)
    assert result["errors"] == [], result
    return result["order"]


async def test_full_refund_of_a_stored_value_order_reverses_principal_gift_and_points(demo, engine):
    m = await demo.register("退款甲")
    card = (await demo.top_up(m["id"], 100_000))["card"]  # 金卡 充1000送200 → 100000 / 20000
    spa, nails = demo.services["精油全身SPA"]["id"], demo.services["日式美甲"]["id"]
    o = await paid(demo, [{"serviceId": spa}, {"serviceId": nails}], [{"method": "STORED_VALUE", "cardId": card["id"]}], member_id=m["id"])
    # 85折: 58800 → 49980, 16800 → 14280 = 64260; gift floor(64260 × 20000 ÷ 120000) = 10710, principal 53550.
    assert (o["total"], o["pointsEarned"]) == (64_260, 535)
    assert tenders(o) == [("STORED_VALUE", 64_260, 0, 53_550, 10_710)]
    before = await member(demo, m["id"])
    assert before["storedValueCards"] == [{"id": card["id"], "principal": 46_450, "gift": 9_290, "balance": 55_740}]
    assert before["points"] == 535

    first = await refund(demo, o["id"], key="rf-full-1")
    assert first["errors"] == [], first
    r = first["refund"]
    assert (r["amount"], r["sessionsReturned"]) == (64_260, 0)
    assert (r["order"]["status"], r["order"]["refunded"]) == ("REFUNDED", 64_260)
    assert [(l["refundedQuantity"], l["refundedAmount"]) for l in r["order"]["lines"]] == [(1, 49_980), (1, 14_280)]
    assert tenders(r["order"]) == [("STORED_VALUE", 64_260, 64_260, 53_550, 10_710)]
    after = await member(demo, m["id"])
    assert after["storedValueCards"] == [{"id": card["id"], "principal": 100_000, "gift": 20_000, "balance": 120_000}]
    assert after["points"] == 0
    statement = (await demo.gql("query($id: ID!) { member(id: $id) { transactions(first: 1) { edges { node { kind amount principalAmount giftAmount balanceAfter store { id } } } } } }",
                                {"id": m["id"]}, as_="manager"))["member"]["transactions"]["edges"]
    assert [e["node"] for e in statement] == [{"kind": "REFUND", "amount": 64_260, "principalAmount": 53_550, "giftAmount": 10_710,
                                                "balanceAfter": 120_000, "store": {"id": demo.jingan}}]

    state = await snapshot(engine)
    replay = await refund(demo, o["id"], key="rf-full-1")
    assert replay == first
    assert await snapshot(engine) == state
    reused = await refund(demo, o["id"], key="rf-full-1", reason="另一个原因")
    assert codes(reused) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    second = await refund(demo, o["id"], key="rf-full-2")
    assert (second["refund"], codes(second)) == (None, [("ALREADY_REFUNDED", "orderId")])
    by_line = await refund(demo, o["id"], lines=[{"lineId": o["lines"][0]["id"], "quantity": 1}])
    assert codes(by_line) == [("ALREADY_REFUNDED", "orderId")]
    assert await snapshot(engine) == state
    await assert_ledger_ok(engine)


async def test_partial_refunds_of_a_mixed_tender_order_go_back_to_the_tender_of_each_line_and_lose_no_fen(demo, engine):
    m = await demo.register("退款乙")
    card = (await demo.top_up(m["id"], 100_000))["card"]  # 100000 / 20000
    spa, nails, rose = demo.services["精油全身SPA"]["id"], demo.services["日式美甲"]["id"], demo.retail["玫瑰精华水"]
    o = await paid(demo, [{"serviceId": spa, "quantity": 2}, {"serviceId": nails}, {"productId": rose}],
                   [{"method": "STORED_VALUE", "cardId": card["id"], "amount": 114_240}, {"method": "CASH"}], member_id=m["id"])
    spa_line, nails_line, rose_line = (l["id"] for l in o["lines"])
    # The card pays the services at 85折: 117600 → 99960, 16800 → 14280, 114240 in all; cash the ¥168 product.
    # The card's 114240 is gift floor(114240 × 20000 ÷ 120000) = 19040 and principal 95200.
    # Points: (95200 + 16800) // 100 = 1120.
    assert (o["total"], o["pointsEarned"]) == (131_040, 1_120)
    assert tenders(o) == [("STORED_VALUE", 114_240, 0, 95_200, 19_040), ("CASH", 16_800, 0, 0, 0)]
    assert (await member(demo, m["id"]))["storedValueCards"][0] == {"id": card["id"], "principal": 4_800, "gift": 960, "balance": 5_760}

    # 1. One of the two SPAs: 99960 × 1 ÷ 2 = 49980, all of it to the card that paid the SPA line:
    #    gift floor(19040 × 49980 ÷ 114240) = 8330, principal 41650. Not a fen in cash.
    #    Points back: floor(1120 × 49980 ÷ 131040) = 427.
    one = await refund(demo, o["id"], lines=[{"lineId": spa_line, "quantity": 1}])
    assert one["errors"] == [], one
    assert (one["refund"]["amount"], one["refund"]["order"]["status"], one["refund"]["order"]["refunded"]) == (49_980, "PARTIALLY_REFUNDED", 49_980)
    assert tenders(one["refund"]["order"]) == [("STORED_VALUE", 114_240, 49_980, 95_200, 19_040), ("CASH", 16_800, 0, 0, 0)]
    assert [(l["refundedQuantity"], l["refundedAmount"]) for l in one["refund"]["order"]["lines"]] == [(1, 49_980), (0, 0), (0, 0)]
    m1 = await member(demo, m["id"])
    assert (m1["storedValueCards"][0]["principal"], m1["storedValueCards"][0]["gift"], m1["points"]) == (4_800 + 41_650, 960 + 8_330, 1_120 - 427)

    # 2. The nails line, 14280, to the card: gift floor(19040 × 64260 ÷ 114240) − 8330 = 10710 − 8330 = 2380, principal 11900.
    #    Points back: floor(1120 × 64260 ÷ 131040) − 427 = 549 − 427 = 122.
    two = await refund(demo, o["id"], lines=[{"lineId": nails_line, "quantity": 1}])
    assert two["errors"] == [], two
    assert (two["refund"]["amount"], two["refund"]["order"]["refunded"]) == (14_280, 64_260)
    assert tenders(two["refund"]["order"]) == [("STORED_VALUE", 114_240, 64_260, 95_200, 19_040), ("CASH", 16_800, 0, 0, 0)]
    m2 = await member(demo, m["id"])
    assert (m2["storedValueCards"][0]["principal"], m2["storedValueCards"][0]["gift"], m2["points"]) == (46_450 + 11_900, 9_290 + 2_380, 693 - 122)

    # 3. The rest: the last SPA (49980 to the card: gift 19040 − 10710 = 8330, principal 41650) and the product (16800 in cash).
    rest = await refund(demo, o["id"])
    assert rest["errors"] == [], rest
    assert (rest["refund"]["amount"], rest["refund"]["order"]["status"], rest["refund"]["order"]["refunded"]) == (66_780, "REFUNDED", 131_040)
    assert [(l["refundedQuantity"], l["refundedAmount"]) for l in rest["refund"]["order"]["lines"]] == [(2, 99_960), (1, 14_280), (1, 16_800)]
    assert tenders(rest["refund"]["order"]) == [("STORED_VALUE", 114_240, 114_240, 95_200, 19_040), ("CASH", 16_800, 16_800, 0, 0)]
    m3 = await member(demo, m["id"])
    # 41650 + 11900 + 41650 = 95200 principal and 8330 + 2380 + 8330 = 19040 gift: the card is as it was before the order.
    assert m3["storedValueCards"] == [{"id": card["id"], "principal": 100_000, "gift": 20_000, "balance": 120_000}]
    assert m3["points"] == 0
    async with read_transaction(engine) as db:
        rows = list(await db.execute(text("SELECT rp.method, rp.amount, rp.principal, rp.gift FROM refund_payments rp ORDER BY rp.id")))
    assert [tuple(r) for r in rows] == [("STORED_VALUE", 49_980, 41_650, 8_330), ("STORED_VALUE", 14_280, 11_900, 2_380),
                                        ("STORED_VALUE", 49_980, 41_650, 8_330), ("CASH", 16_800, 0, 0)]
    del rose_line
    await assert_ledger_ok(engine)


async def test_refunding_a_count_card_session_gives_it_back_and_frees_the_daily_limit(demo, engine):
    m = await demo.register("退款丙")
    sale = await paid(demo, [{"countCardProductId": demo.count_card_products["面部清洁10次卡"]}], [{"method": "CASH"}], member_id=m["id"])
    assert (sale["total"], sale["pointsEarned"]) == (200_000, 2_000)
    cc = (await member(demo, m["id"]))["countCards"][0]
    assert (cc["remaining"], cc["status"]) == (10, "ACTIVE")
    facial = demo.services["面部深层清洁"]["id"]

    # Two facials: one on the card (200000 ÷ 10 = 20000 recognised), one in cash (29800).
    visit = await paid(demo, [{"serviceId": facial, "quantity": 2}], [{"method": "COUNT_CARD", "countCardId": cc["id"]}, {"method": "CASH"}], member_id=m["id"])
    assert (visit["listTotal"], visit["discount"], visit["total"], visit["pointsEarned"]) == (59_600, 9_800, 49_800, 298)
    assert tenders(visit) == [("COUNT_CARD", 20_000, 0, 0, 0), ("CASH", 29_800, 0, 0, 0)]
    assert (await member(demo, m["id"]))["countCards"][0]["remaining"] == 9
    line = visit["lines"][0]["id"]

    waiting = await open_order(demo, [{"serviceId": facial}], member_id=m["id"])
    limited = await checkout(demo, waiting["id"], [{"method": "COUNT_CARD", "countCardId": cc["id"]}])
    assert codes(limited) == [("DAILY_LIMIT_REACHED", "payments.0.countCardId")]

    # Refunding one unit gives back the session first: no money moves, the session is live again.
    back = await refund(demo, visit["id"], lines=[{"lineId": line, "quantity": 1}])
    assert back["errors"] == [], back
    r = back["refund"]
    assert (r["amount"], r["sessionsReturned"], r["order"]["status"], r["order"]["refunded"], r["order"]["pointsEarned"]) == (0, 1, "PARTIALLY_REFUNDED", 0, 298)
    assert tenders(r["order"]) == [("COUNT_CARD", 20_000, 20_000, 0, 0), ("CASH", 29_800, 0, 0, 0)]
    assert [(l["refundedQuantity"], l["refundedAmount"]) for l in r["order"]["lines"]] == [(1, 20_000)]
    after = await member(demo, m["id"])
    assert (after["countCards"][0]["remaining"], after["points"]) == (10, 2_298)

    # The daily limit counts live uses only, so the card serves again today at 200000 ÷ 10.
    again = await checkout(demo, waiting["id"], [{"method": "COUNT_CARD", "countCardId": cc["id"]}])
    assert again["errors"] == [], again
    assert tenders(again["order"]) == [("COUNT_CARD", 20_000, 0, 0, 0)]
    assert (await member(demo, m["id"]))["countCards"][0]["remaining"] == 9

    # The other unit was paid in cash: all 29800 back, and the 298 points it earned.
    cash = await refund(demo, visit["id"], lines=[{"lineId": line, "quantity": 1}])
    assert cash["errors"] == [], cash
    r = cash["refund"]
    assert (r["amount"], r["sessionsReturned"], r["order"]["status"], r["order"]["refunded"]) == (29_800, 0, "REFUNDED", 29_800)
    assert tenders(r["order"]) == [("COUNT_CARD", 20_000, 20_000, 0, 0), ("CASH", 29_800, 29_800, 0, 0)]
    assert [(l["refundedQuantity"], l["refundedAmount"]) for l in r["order"]["lines"]] == [(2, 49_800)]
    after = await member(demo, m["id"])
    assert (after["countCards"][0]["remaining"], after["points"]) == (9, 2_000)
    await assert_ledger_ok(engine)


async def test_refunding_a_time_card_session_moves_no_money_and_frees_the_day(demo, engine):
    m = await demo.register("退款丁")
    await paid(demo, [{"countCardProductId": demo.count_card_products["SPA月卡"]}], [{"method": "CASH"}], member_id=m["id"])
    cc = (await member(demo, m["id"]))["countCards"][0]
    assert (cc["product"]["name"], cc["remaining"]) == ("SPA月卡", None)
    spa = demo.services["精油全身SPA"]["id"]
    # A time card recognises nothing per session: the order comes to 0 and no ledger transfer is needed.
    visit = await paid(demo, [{"serviceId": spa}], [{"method": "COUNT_CARD", "countCardId": cc["id"]}], member_id=m["id"])
    assert (visit["listTotal"], visit["discount"], visit["total"]) == (58_800, 58_800, 0)
    waiting = await open_order(demo, [{"serviceId": spa}], member_id=m["id"])
    assert codes(await checkout(demo, waiting["id"], [{"method": "COUNT_CARD", "countCardId": cc["id"]}])) == [("DAILY_LIMIT_REACHED", "payments.0.countCardId")]

    transfers_before = (await snapshot(engine))[0]
    back = await refund(demo, visit["id"])
    assert back["errors"] == [], back
    assert (back["refund"]["amount"], back["refund"]["sessionsReturned"], back["refund"]["order"]["status"]) == (0, 1, "REFUNDED")
    assert (await snapshot(engine))[0] == transfers_before
    assert (await checkout(demo, waiting["id"], [{"method": "COUNT_CARD", "countCardId": cc["id"]}]))["errors"] == []
    await assert_ledger_ok(engine)


async def test_a_count_card_bought_comes_back_only_while_unused(demo, engine):
    m = await demo.register("退款戊")
    ten = demo.count_card_products["面部清洁10次卡"]
    facial = demo.services["面部深层清洁"]["id"]

    # Unused: revoked, and all 200000 goes back to the cash it came from with its 2000 points.
    first = await paid(demo, [{"countCardProductId": ten}], [{"method": "CASH"}], member_id=m["id"])
    back = await refund(demo, first["id"])
    assert back["errors"] == [], back
    r = back["refund"]
    assert (r["amount"], r["sessionsReturned"], r["order"]["status"], r["order"]["refunded"]) == (200_000, 0, "REFUNDED", 200_000)
    assert tenders(r["order"]) == [("CASH", 200_000, 200_000, 0, 0)]
    revoked = await member(demo, m["id"])
    assert ([(c["status"], c["remaining"]) for c in revoked["countCards"]], revoked["points"]) == ([("REVOKED", 10)], 0)
    visit = await open_order(demo, [{"serviceId": facial}], member_id=m["id"])
    refused = await checkout(demo, visit["id"], [{"method": "COUNT_CARD", "countCardId": revoked["countCards"][0]["id"]}])
    assert codes(refused) == [("COUNT_CARD_INACTIVE", "payments.0.countCardId")]

    # Used once: refused, and nothing moves.
    second = await paid(demo, [{"countCardProductId": ten}], [{"method": "BANK_CARD", "amount": 50_000}, {"method": "WECHAT"}], member_id=m["id"])
    card = (await member(demo, m["id"]))["countCards"][1]
    used = await checkout(demo, visit["id"], [{"method": "COUNT_CARD", "countCardId": card["id"]}])
    assert used["errors"] == []
    state = await snapshot(engine)
    refused = await refund(demo, second["id"])
    assert (refused["refund"], codes(refused)) == (None, [("COUNT_CARD_USED", "lines")])
    by_line = await refund(demo, second["id"], lines=[{"lineId": second["lines"][0]["id"], "quantity": 1}])
    assert codes(by_line) == [("COUNT_CARD_USED", "lines")]
    assert await snapshot(engine) == state

    # Once that session is refunded the card is unused again, so it can come back: the whole 200000,
    # split 50000 : 150000 like the payment.
    assert (await refund(demo, used["order"]["id"]))["errors"] == []
    assert (await member(demo, m["id"]))["countCards"][1]["remaining"] == 10
    back = await refund(demo, second["id"])
    assert back["errors"] == [], back
    assert back["refund"]["amount"] == 200_000
    assert tenders(back["refund"]["order"]) == [("BANK_CARD", 50_000, 50_000, 0, 0), ("WECHAT", 150_000, 150_000, 0, 0)]
    assert [c["status"] for c in (await member(demo, m["id"]))["countCards"]] == ["REVOKED", "REVOKED"]
    await assert_ledger_ok(engine)


async def test_a_line_of_two_count_cards_gives_back_the_unused_one(demo, engine):
    m = await demo.register("退款辛")
    sale = await paid(demo, [{"countCardProductId": demo.count_card_products["面部清洁10次卡"], "quantity": 2}], [{"method": "CASH"}], member_id=m["id"])
    assert (sale["total"], sale["pointsEarned"]) == (400_000, 4_000)
    first, second = (await member(demo, m["id"]))["countCards"]
    # The member uses the card issued last, which is the one a refund would otherwise look at first.
    await paid(demo, [{"serviceId": demo.services["面部深层清洁"]["id"]}], [{"method": "COUNT_CARD", "countCardId": second["id"]}], member_id=m["id"])

    back = await refund(demo, sale["id"], lines=[{"lineId": sale["lines"][0]["id"], "quantity": 1}])
    assert back["errors"] == [], "a line of two count cards, one unused, must give back the unused one: " + str(back["errors"])
    r = back["refund"]
    # One card's 400000 ÷ 2 = 200000, and floor(4000 × 200000 ÷ 400000) = 2000 points.
    assert (r["amount"], r["order"]["status"], r["order"]["refunded"]) == (200_000, "PARTIALLY_REFUNDED", 200_000)
    assert tenders(r["order"]) == [("CASH", 400_000, 200_000, 0, 0)]
    after = await member(demo, m["id"])
    assert ([(c["id"], c["status"], c["remaining"]) for c in after["countCards"]], after["points"]) == (
        [(first["id"], "REVOKED", 10), (second["id"], "ACTIVE", 9)], 2_000)

    state = await snapshot(engine)
    refused = await refund(demo, sale["id"])
    assert codes(refused) == [("COUNT_CARD_USED", "lines")]
    assert await snapshot(engine) == state
    await assert_ledger_ok(engine)


async def test_cross_store_stored_value_refund_reverses_the_settlement(demo, engine):
    await demo.gql("mutation { updateBrandSettings(input: {settlementRatePercent: 90}) { errors { code } } }", as_="owner")
    m = await demo.register("退款己", store=demo.jingan)
    card = (await demo.top_up(m["id"], 100_000, store=demo.xuhui, as_="owner"))["card"]  # sold by 徐汇店
    assert card["issuedStore"] == {"id": demo.xuhui}
    spa, nails = demo.services["精油全身SPA"]["id"], demo.services["日式美甲"]["id"]
    o = await paid(demo, [{"serviceId": spa}, {"serviceId": nails}], [{"method": "STORED_VALUE", "cardId": card["id"]}], member_id=m["id"])
    assert tenders(o) == [("STORED_VALUE", 64_260, 0, 53_550, 10_710)]

    async def statement():
        return (await demo.gql(SETTLEMENT, {"f": today(), "t": today()}, as_="finance"))["crossStoreSettlement"]

    # 徐汇店 owes 静安店 64260 × 90% = 57834.
    assert await statement() == [{"payerStore": {"id": demo.xuhui}, "payeeStore": {"id": demo.jingan}, "consumed": 64_260, "settlementAmount": 57_834, "items": 1}]

    # The nails line back: 14280 (gift floor(10710 × 14280 ÷ 64260) = 2380, principal 11900) takes back 14280 × 90% = 12852.
    part = await refund(demo, o["id"], lines=[{"lineId": o["lines"][1]["id"], "quantity": 1}])
    assert part["errors"] == [], part
    assert part["refund"]["amount"] == 14_280
    assert (await member(demo, m["id"]))["storedValueCards"][0] == {"id": card["id"], "principal": 46_450 + 11_900, "gift": 9_290 + 2_380, "balance": 70_020}
    assert await statement() == [{"payerStore": {"id": demo.xuhui}, "payeeStore": {"id": demo.jingan}, "consumed": 49_980, "settlementAmount": 44_982, "items": 2}]

    rest = await refund(demo, o["id"])
    assert rest["errors"] == [], rest
    assert (rest["refund"]["amount"], rest["refund"]["order"]["status"]) == (49_980, "REFUNDED")
    assert (await member(demo, m["id"]))["storedValueCards"][0] == {"id": card["id"], "principal": 100_000, "gift": 20_000, "balance": 120_000}
    # Nothing is owed any more either way.
    assert [(l["consumed"], l["settlementAmount"], l["items"]) for l in await statement()] == [(0, 0, 3)]
    await assert_ledger_ok(engine)


async def test_bad_refund_requests_change_nothing(demo, engine):
    m = await demo.register("退款庚")
    nails, cut = demo.services["日式美甲"]["id"], demo.services["洗剪吹"]["id"]
    o = await paid(demo, [{"serviceId": nails, "quantity": 2}, {"serviceId": cut}], [{"method": "CASH"}], member_id=m["id"])
    nails_line, cut_line = (l["id"] for l in o["lines"])
    other = await paid(demo, [{"serviceId": cut}], [{"method": "CASH"}])
    unpaid = await open_order(demo, [{"serviceId": cut}], member_id=m["id"])
    held, cancelled = await open_order(demo, [{"serviceId": cut}]), await open_order(demo, [{"serviceId": cut}])
    for mutation, order in (("holdOrder", held), ("cancelOrder", cancelled)):
        moved = await demo.gql(f"mutation($i: OrderInput!) {{ {mutation}(input: $i) {{ errors {{ code }} }} }}", {"i": {"orderId": order["id"]}}, as_="reception")
        assert moved[mutation]["errors"] == []
    elsewhere = await paid(demo, [{"serviceId": cut}], [{"method": "CASH"}], store=demo.xuhui, as_="owner")
    # One unit already back, so one of the two nails is left.
    assert (await refund(demo, o["id"], lines=[{"lineId": nails_line, "quantity": 1}]))["errors"] == []
    state = await snapshot(engine)
    unknown_order = base64.b64encode(b"Order:987654").decode()

    cases = [
        (dict(reason=""), ("REQUIRED", "reason")),
        (dict(reason="   "), ("REQUIRED", "reason")),
        (dict(reason="很" * 201), ("TOO_LONG", "reason")),
        (dict(order_id=unknown_order), ("NOT_FOUND", "orderId")),
        (dict(order_id=m["id"]), ("NOT_FOUND", "orderId")),
        (dict(order_id=unpaid["id"]), ("ORDER_NOT_PAID", "orderId")),
        (dict(order_id=held["id"]), ("ORDER_NOT_PAID", "orderId")),
        (dict(order_id=cancelled["id"]), ("ORDER_NOT_PAID", "orderId")),
        (dict(order_id=elsewhere["id"]), ("STORE_FORBIDDEN", "orderId")),
        (dict(lines=[{"lineId": other["lines"][0]["id"], "quantity": 1}]), ("NOT_FOUND", "lines.0.lineId")),
        (dict(lines=[{"lineId": "not-an-id", "quantity": 1}]), ("NOT_FOUND", "lines.0.lineId")),
        (dict(lines=[{"lineId": nails_line, "quantity": 0}]), ("REFUND_QUANTITY_EXCEEDED", "lines.0.quantity")),
        (dict(lines=[{"lineId": nails_line, "quantity": -1}]), ("REFUND_QUANTITY_EXCEEDED", "lines.0.quantity")),
        (dict(lines=[{"lineId": nails_line, "quantity": 2}]), ("REFUND_QUANTITY_EXCEEDED", "lines.0.quantity")),
        (dict(lines=[{"lineId": cut_line, "quantity": 1}, {"lineId": cut_line, "quantity": 1}]), ("REFUND_QUANTITY_EXCEEDED", "lines.1.quantity")),
        (dict(lines=[]), ("REQUIRED", "lines")),
    ]
    for case, expected in cases:
        result = await refund(demo, case.get("order_id", o["id"]), lines=case.get("lines"), reason=case.get("reason", "顾客不满意"))
        assert (result["refund"], codes(result)) == (None, [expected]), case
    left = next(e for e in (await refund(demo, o["id"], lines=[{"lineId": nails_line, "quantity": 2}]))["errors"])
    assert left["message"] == "退款数量超过可退数量（可退1）"

    # No reason at all is not even a valid request.
    missing = await demo.gql.raw(REFUND, {"i": {"orderId": o["id"], "idempotencyKey": "no-reason"}}, as_="manager")
    assert missing.get("data") is None and "reason" in missing["errors"][0]["message"]
    # Only owners and store managers refund; everyone else is refused at the top level.
    for role in ("reception", "technician", "finance", "marketer"):
        denied = await demo.gql.raw(REFUND, {"i": {"orderId": o["id"], "reason": "顾客不满意", "idempotencyKey": f"deny-{role}"}}, as_=role)
        assert denied.get("data") is None, role
        assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"], role
    assert await snapshot(engine) == state
    assert (await demo.gql(ORDER, {"id": o["id"]}, as_="manager"))["order"]["status"] == "PARTIALLY_REFUNDED"
    # The owner may refund at any store.
    assert (await refund(demo, elsewhere["id"], as_="owner"))["refund"]["amount"] == 8_800
    await assert_ledger_ok(engine)
