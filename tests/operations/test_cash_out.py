"""退卡 through the staff API, with hand-worked fen: a stored-value card pays out its principal and
forfeits its gift, closes and refuses every later use; count cards pay out their unused value
minus the brand's fee, or are refused where the brand does not allow it."""

import datetime as dt
import uuid
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import text

from domain.cards.cash_out import count_card_value_left
from domain.db import read_transaction, write_transaction
from tests.support import TOP_UP, assert_ledger_ok, checkout, open_order

ERRORS = "errors { code field message }"
CASH_OUT = f"""mutation($i: CashOutCardInput!) {{ cashOutCard(input: $i) {{
  paidOut giftForfeited card {{ id status principal gift }} {ERRORS} }} }}"""
CASH_OUT_COUNT = f"""mutation($i: CashOutCountCardInput!) {{ cashOutCountCard(input: $i) {{
  valueLeft fee paidOut countCard {{ id status }} {ERRORS} }} }}"""
SETTINGS = f"""mutation($i: UpdateOperationSettingsInput!) {{ updateOperationSettings(input: $i) {{
  settings {{ countCardCashOut countCardCashOutFeePercent }} {ERRORS} }} }}"""
CLOSE = """query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) {
  cashOuts { count principal giftForfeited countCardPaidOut countCardFees } ledgerTenderMovements { method amount } } }"""


def today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


async def gold_card_after_a_spend(demo) -> tuple[str, str]:
    """¥1,000 onto 金卡 (充1000送200: principal 100,000, gift 20,000), then 洗剪吹 ¥88 at 85折 = 7,480
    paid by the card, split in proportion: gift 7,480 × 20,000 ÷ 120,000 = 1,246, principal 6,234.
    Left: principal 93,766, gift 18,754."""
    member = await demo.register()
    topped = await demo.top_up(member["id"], 100_000)
    card = topped["card"]["id"]
    assert (topped["card"]["principal"], topped["card"]["gift"]) == (100_000, 20_000)
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member["id"])
    paid = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card}])
    assert paid["errors"] == [] and paid["order"]["breakdown"]["payments"][0] | {} == {
        "method": "STORED_VALUE", "amount": 7_480, "principal": 6_234, "gift": 1_246, "cardId": card, "countCardId": None, "refundedAmount": 0}
    return member["id"], card


async def cash_out(demo, card, *, key=None, reason="顾客搬家", tender="CASH", as_="manager"):
    data = await demo.gql(CASH_OUT, {"i": {"cardId": card, "tender": tender, "reason": reason, "idempotencyKey": key or uuid.uuid4().hex}}, as_=as_)
    return data["cashOutCard"]


async def test_cash_out_pays_the_principal_forfeits_the_gift_and_closes_the_card(demo, engine):
    member, card = await gold_card_after_a_spend(demo)
    key = uuid.uuid4().hex
    done = await cash_out(demo, card, key=key)
    assert done == {"paidOut": 93_766, "giftForfeited": 18_754, "card": {"id": card, "status": "CLOSED", "principal": 0, "gift": 0}, "errors": []}
    assert await cash_out(demo, card, key=key) == done
    assert (await cash_out(demo, card, key=key, reason="别的"))["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await cash_out(demo, card))["errors"][0]["code"] == "CARD_CLOSED"

    async with read_transaction(engine) as db:
        legs = sorted(tuple(r) for r in await db.execute(text(
            "SELECT a.kind, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id JOIN transfers t ON t.id = p.transfer_id"
            " WHERE t.kind = 'CASH_OUT'")))
    assert legs == [("CARD_GIFT", 18_754), ("CARD_PRINCIPAL", 93_766), ("STORE_GIFT_FORFEITED", -18_754), ("STORE_TENDER", -93_766)]

    top_up = await demo.gql(TOP_UP, {"i": {"memberId": member, "storeId": demo.jingan, "cardId": card, "amount": 10_000, "tender": "CASH",
                                           "idempotencyKey": uuid.uuid4().hex}}, as_="reception")
    assert top_up["topUp"]["errors"][0]["code"] == "CARD_CLOSED"
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member)
    spend = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card}])
    assert [e["code"] for e in spend["errors"]] == ["CARD_CLOSED"]
    freeze = await demo.gql("mutation($i: FreezeCardInput!) { freezeCard(input: $i) { errors { code } } }",
                            {"i": {"cardId": card, "reason": "挂失"}}, as_="manager")
    assert freeze["freezeCard"]["errors"] == [{"code": "CARD_CLOSED"}]

    close = (await demo.gql(CLOSE, {"s": demo.jingan, "d": today()}, as_="manager"))["dailyClose"]
    assert close["cashOuts"] == {"count": 1, "principal": 93_766, "giftForfeited": 18_754, "countCardPaidOut": 0, "countCardFees": 0}
    # the drawer: the demo's ¥1,000 for 张小美 and this ¥1,000 in, 93,766 paid out
    assert {m["method"]: m["amount"] for m in close["ledgerTenderMovements"]}["CASH"] == 100_000 + 100_000 - 93_766
    await assert_ledger_ok(engine)


async def test_a_manager_cashes_out_only_their_own_stores_cards_and_needs_a_reason(demo, engine):
    member = await demo.register(store=demo.xuhui, as_="owner")
    topped = await demo.top_up(member["id"], 50_000, store=demo.xuhui, as_="owner")
    card = topped["card"]["id"]
    assert (await cash_out(demo, card))["errors"][0] == {"code": "STORE_FORBIDDEN", "field": "cardId", "message": "无权操作该门店"}
    assert (await cash_out(demo, card, reason=" ", as_="owner"))["errors"][0]["code"] == "REQUIRED"
    assert (await cash_out(demo, demo.jingan, as_="owner"))["errors"][0]["code"] == "NOT_FOUND"
    done = await cash_out(demo, card, as_="owner", tender="WECHAT")
    assert (done["paidOut"], done["giftForfeited"]) == (50_000, 0)  # ¥500 onto 金卡 reaches no bonus tier
    await assert_ledger_ok(engine)


async def test_a_held_order_topping_up_the_card_or_a_pending_online_top_up_blocks_it(demo, engine):
    member, card = await gold_card_after_a_spend(demo)
    order = await open_order(demo, [{"topUpCardProductId": demo.products["金卡"], "amount": 20_000}], member_id=member)
    held = await demo.gql("mutation($i: OrderInput!) { holdOrder(input: $i) { errors { code } } }", {"i": {"orderId": order["id"]}}, as_="reception")
    assert held["holdOrder"]["errors"] == []
    assert (await cash_out(demo, card))["errors"][0]["code"] == "CARD_ORDER_OPEN"
    for step in ("resumeOrder", "cancelOrder"):
        moved = await demo.gql(f"mutation($i: OrderInput!) {{ {step}(input: $i) {{ errors {{ code }} }} }}", {"i": {"orderId": order["id"]}}, as_="reception")
        assert moved[step]["errors"] == []

    async with write_transaction(engine) as db:
        ids = (await db.execute(text("SELECT c.member_id, c.product_id, c.brand_id, c.issued_store_id FROM stored_value_cards c WHERE c.member_id = "
                                     "(SELECT member_id FROM stored_value_cards ORDER BY id DESC LIMIT 1) ORDER BY c.id DESC LIMIT 1"))).one()
        await db.execute(text(
            "INSERT INTO payment_intents (brand_id, member_id, store_id, channel, purpose, item_id, amount, out_trade_no, app_id, payer_id, status,"
            " refunded, expires_at, created_at) VALUES (:b, :m, :s, 'WECHAT', 'TOP_UP', :p, 10000, 'T1', 'wx1', 'openid', :st, 0, :e, :e)"
        ), {"b": ids.brand_id, "m": ids.member_id, "s": ids.issued_store_id, "p": ids.product_id, "st": "PENDING",
            "e": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)})
    assert (await cash_out(demo, card))["errors"][0]["code"] == "CARD_PAYMENT_PENDING"
    async with write_transaction(engine) as db:
        await db.execute(text("UPDATE payment_intents SET status = 'CLOSED'"))
    assert (await cash_out(demo, card))["paidOut"] == 93_766
    await assert_ledger_ok(engine)


async def buy_facial_card_and_use_one(demo) -> tuple[str, str]:
    """面部清洁10次卡 ¥2,000 for 10 sessions; one session recognises 200,000 ÷ 10 = 20,000, leaving 180,000."""
    member = await demo.register()
    order = await open_order(demo, [{"countCardProductId": demo.count_card_products["面部清洁10次卡"]}], member_id=member["id"])
    assert (await checkout(demo, order["id"], [{"method": "CASH"}]))["errors"] == []
    cards = (await demo.gql("query($id: ID!) { member(id: $id) { countCards { id } } }", {"id": member["id"]}, as_="owner"))["member"]["countCards"]
    facial = demo.services["面部深层清洁"]["id"]
    used = await open_order(demo, [{"serviceId": facial}], member_id=member["id"])
    assert (await checkout(demo, used["id"], [{"method": "COUNT_CARD", "countCardId": cards[0]["id"]}]))["errors"] == []
    return member["id"], cards[0]["id"]


async def test_count_cards_cash_out_their_unused_value_minus_the_fee_where_allowed(demo, engine):
    _, card = await buy_facial_card_and_use_one(demo)
    args = {"countCardId": card, "tender": "CASH", "reason": "不想做了"}
    refused = await demo.gql(CASH_OUT_COUNT, {"i": {**args, "idempotencyKey": uuid.uuid4().hex}}, as_="manager")
    assert refused["cashOutCountCard"]["errors"][0]["code"] == "COUNT_CARD_CASH_OUT_NOT_ALLOWED"
    bad = await demo.gql(SETTINGS, {"i": {"countCardCashOutFeePercent": 101}}, as_="owner")
    assert bad["updateOperationSettings"]["errors"][0]["code"] == "INVALID_VALUE"
    allowed = await demo.gql(SETTINGS, {"i": {"countCardCashOut": True, "countCardCashOutFeePercent": 10}}, as_="owner")
    assert allowed["updateOperationSettings"]["settings"] == {"countCardCashOut": True, "countCardCashOutFeePercent": 10}
    done = await demo.gql(CASH_OUT_COUNT, {"i": {**args, "idempotencyKey": uuid.uuid4().hex}}, as_="manager")
    assert done["cashOutCountCard"] == {"valueLeft": 180_000, "fee": 18_000, "paidOut": 162_000, "countCard": {"id": card, "status": "CASHED_OUT"}, "errors": []}
    again = await demo.gql(CASH_OUT_COUNT, {"i": {**args, "idempotencyKey": uuid.uuid4().hex}}, as_="manager")
    assert again["cashOutCountCard"]["errors"][0]["code"] == "COUNT_CARD_INACTIVE"
    close = (await demo.gql(CLOSE, {"s": demo.jingan, "d": today()}, as_="manager"))["dailyClose"]
    assert close["cashOuts"] == {"count": 1, "principal": 0, "giftForfeited": 0, "countCardPaidOut": 162_000, "countCardFees": 18_000}
    async with read_transaction(engine) as db:
        assert await db.scalar(text("SELECT balance FROM accounts WHERE code LIKE 'ccard:%'")) == 0
    await assert_ledger_ok(engine)


def test_a_time_card_is_worth_the_share_of_its_validity_left():
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    card = SimpleNamespace(sessions_total=None, starts_at=start, expires_at=start + dt.timedelta(days=30))
    assert count_card_value_left(card, 150_000, start + dt.timedelta(days=12)) == 90_000
    assert count_card_value_left(card, 150_000, start + dt.timedelta(days=12, seconds=1)) == 89_999
    assert count_card_value_left(card, 150_000, start + dt.timedelta(days=31)) == 0
    sessions = SimpleNamespace(sessions_total=10, starts_at=start, expires_at=start + dt.timedelta(days=30))
    assert count_card_value_left(sessions, 180_000, start + dt.timedelta(days=29)) == 180_000
