"""Retail stock (库存) through the staff API: receiving (idempotent), sales and refunds moving the
level in the checkout's own transaction, adjustments and counts with a reason, transfers, the
brand's negative-stock rule, thresholds, the low list and the `stock.low` outbox event."""

import uuid

from sqlalchemy import text

from domain.db import read_transaction
from tests.support import assert_ledger_ok, checkout, open_order

ERRORS = "errors { code field message }"
LEVEL = "stock { product { id name } quantity lowStockThreshold low }"
RECEIVE = f"mutation($i: ReceiveStockInput!) {{ receiveStock(input: $i) {{ {LEVEL} {ERRORS} }} }}"
ADJUST = f"mutation($i: AdjustStockInput!) {{ adjustStock(input: $i) {{ {LEVEL} {ERRORS} }} }}"
COUNT = f"mutation($i: CountStockInput!) {{ countStock(input: $i) {{ {LEVEL} {ERRORS} }} }}"
THRESHOLD = f"mutation($i: SetLowStockThresholdInput!) {{ setLowStockThreshold(input: $i) {{ {LEVEL} {ERRORS} }} }}"
TRANSFER = f"""mutation($i: TransferStockInput!) {{ transferStock(input: $i) {{
  sent {{ quantity }} received {{ quantity }} {ERRORS} }} }}"""
STOCK = "query($s: ID!) { stock(storeId: $s) { product { id name } quantity lowStockThreshold low } }"
LOW = "query($s: ID!) { lowStock(storeId: $s) { product { name } quantity } }"
SETTINGS = f"mutation($i: UpdateOperationSettingsInput!) {{ updateOperationSettings(input: $i) {{ settings {{ allowNegativeStock }} {ERRORS} }} }}"
REFUND = f"mutation($i: RefundOrderInput!) {{ refundOrder(input: $i) {{ refund {{ amount }} {ERRORS} }} }}"


async def receive(demo, quantity, *, store=None, key=None, as_="reception", note="供应商：花园"):
    data = await demo.gql(RECEIVE, {"i": {"productId": demo.retail["玫瑰精华水"], "storeId": store or demo.jingan, "quantity": quantity,
                                          "note": note, "idempotencyKey": key or uuid.uuid4().hex}}, as_=as_)
    return data["receiveStock"]


async def level(demo, store=None) -> int | None:
    rows = (await demo.gql(STOCK, {"s": store or demo.jingan}, as_="owner"))["stock"]
    return {r["product"]["name"]: r["quantity"] for r in rows}.get("玫瑰精华水")


async def sell(demo, quantity, *, key=None):
    order = await open_order(demo, [{"productId": demo.retail["玫瑰精华水"], "quantity": quantity}])
    return order, await checkout(demo, order["id"], [{"method": "CASH"}], key=key)


async def test_receive_is_idempotent_and_a_sale_and_refund_move_the_level(demo, engine):
    key = uuid.uuid4().hex
    first = await receive(demo, 12, key=key)
    assert first["errors"] == [] and first["stock"]["quantity"] == 12, first
    again = await receive(demo, 12, key=key)
    assert again == first
    assert (await receive(demo, 13, key=key))["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await level(demo) == 12

    order, paid = await sell(demo, 3)
    assert paid["errors"] == [] and paid["order"]["total"] == 3 * 16800, paid
    assert await level(demo) == 9
    line = order["lines"][0]["id"]
    refunded = await demo.gql(REFUND, {"i": {"orderId": order["id"], "reason": "破损", "idempotencyKey": uuid.uuid4().hex,
                                             "lines": [{"lineId": line, "quantity": 1}]}}, as_="manager")
    assert refunded["refundOrder"] == {"refund": {"amount": 16800}, "errors": []}, refunded
    assert await level(demo) == 10
    async with read_transaction(engine) as db:
        kinds = list(await db.execute(text("SELECT kind, delta, quantity_after, note FROM stock_movements ORDER BY id")))
    assert [tuple(k) for k in kinds] == [("RECEIVED", 12, 12, "供应商：花园"), ("SALE", -3, 9, None), ("REFUND", 1, 10, None)]
    await assert_ledger_ok(engine)


async def test_a_sale_beyond_the_shelf_is_refused_unless_the_brand_allows_it(demo, engine):
    await receive(demo, 2)
    order, refused = await sell(demo, 3)
    assert refused["order"] is None and [e["code"] for e in refused["errors"]] == ["STOCK_INSUFFICIENT"], refused
    assert "2" in refused["errors"][0]["message"]
    assert await level(demo) == 2
    async with read_transaction(engine) as db:
        assert await db.scalar(text("SELECT count(*) FROM transfers WHERE kind = 'CHECKOUT'")) == 0
        assert await db.scalar(text("SELECT status FROM orders")) == "OPEN"

    allowed = await demo.gql(SETTINGS, {"i": {"allowNegativeStock": True}}, as_="owner")
    assert allowed["updateOperationSettings"] == {"settings": {"allowNegativeStock": True}, "errors": []}
    paid = await checkout(demo, order["id"], [{"method": "CASH"}])
    assert paid["errors"] == [], paid
    assert await level(demo) == -1
    await assert_ledger_ok(engine)


async def test_an_untracked_product_sells_without_a_level(demo, engine):
    _, paid = await sell(demo, 2)
    assert paid["errors"] == []
    assert await level(demo) is None
    await assert_ledger_ok(engine)


async def test_adjustments_and_counts_need_a_reason_and_are_audited(demo, engine):
    await receive(demo, 10)
    base = {"productId": demo.retail["玫瑰精华水"], "storeId": demo.jingan}
    no_reason = await demo.gql(ADJUST, {"i": {**base, "delta": -1, "reason": " "}}, as_="manager")
    assert no_reason["adjustStock"]["errors"][0]["code"] == "REQUIRED"
    too_many = await demo.gql(ADJUST, {"i": {**base, "delta": -11, "reason": "破损"}}, as_="manager")
    assert too_many["adjustStock"]["errors"][0]["code"] == "STOCK_INSUFFICIENT"
    zero = await demo.gql(ADJUST, {"i": {**base, "delta": 0, "reason": "破损"}}, as_="manager")
    assert zero["adjustStock"]["errors"][0]["code"] == "INVALID_VALUE"
    broke = await demo.gql(ADJUST, {"i": {**base, "delta": -2, "reason": "破损"}}, as_="manager")
    assert broke["adjustStock"]["stock"]["quantity"] == 8
    counted = await demo.gql(COUNT, {"i": {**base, "counted": 5, "reason": "月末盘点"}}, as_="manager")
    assert counted["countStock"]["stock"]["quantity"] == 5
    negative = await demo.gql(COUNT, {"i": {**base, "counted": -1, "reason": "月末盘点"}}, as_="manager")
    assert negative["countStock"]["errors"][0]["code"] == "INVALID_VALUE"
    async with read_transaction(engine) as db:
        audited = list(await db.execute(text("SELECT action, before, after FROM audit_log WHERE action LIKE 'stock.%' ORDER BY id")))
    assert [a.action for a in audited] == ["stock.receive", "stock.adjust", "stock.count"]
    assert '"quantity": 8' in audited[2].before and '"quantity": 5' in audited[2].after and "月末盘点" in audited[2].after
    await assert_ledger_ok(engine)


async def test_transfers_move_goods_between_stores_and_managers_send_only_from_their_own(demo, engine):
    await receive(demo, 6)
    base = {"productId": demo.retail["玫瑰精华水"], "fromStoreId": demo.jingan, "toStoreId": demo.xuhui}
    too_many = await demo.gql(TRANSFER, {"i": {**base, "quantity": 7, "idempotencyKey": uuid.uuid4().hex}}, as_="manager")
    assert too_many["transferStock"]["errors"][0]["code"] == "STOCK_INSUFFICIENT"
    key = uuid.uuid4().hex
    sent = await demo.gql(TRANSFER, {"i": {**base, "quantity": 4, "idempotencyKey": key}}, as_="manager")
    assert sent["transferStock"] == {"sent": {"quantity": 2}, "received": {"quantity": 4}, "errors": []}, sent
    assert (await demo.gql(TRANSFER, {"i": {**base, "quantity": 4, "idempotencyKey": key}}, as_="manager")) == sent
    back = {**base, "fromStoreId": demo.xuhui, "toStoreId": demo.jingan, "quantity": 1, "idempotencyKey": uuid.uuid4().hex}
    foreign = await demo.gql(TRANSFER, {"i": back}, as_="manager")
    assert foreign["transferStock"]["errors"][0]["code"] == "STORE_FORBIDDEN"
    same = await demo.gql(TRANSFER, {"i": {**base, "toStoreId": demo.jingan, "quantity": 1, "idempotencyKey": uuid.uuid4().hex}}, as_="owner")
    assert same["transferStock"]["errors"][0]["code"] == "INVALID_VALUE"
    assert (await level(demo), await level(demo, demo.xuhui)) == (2, 4)
    await assert_ledger_ok(engine)


async def test_crossing_the_threshold_lists_it_low_and_queues_one_event_a_day(demo, engine):
    await receive(demo, 5)
    set_ = await demo.gql(THRESHOLD, {"i": {"productId": demo.retail["玫瑰精华水"], "storeId": demo.jingan, "threshold": 3}}, as_="manager")
    assert set_["setLowStockThreshold"]["stock"] == {"product": {"id": demo.retail["玫瑰精华水"], "name": "玫瑰精华水"}, "quantity": 5,
                                                     "lowStockThreshold": 3, "low": False}
    assert (await demo.gql(LOW, {"s": demo.jingan}, as_="manager"))["lowStock"] == []
    await sell(demo, 1)
    async with read_transaction(engine) as db:
        assert await db.scalar(text("SELECT count(*) FROM outbox_events WHERE kind = 'stock.low'")) == 0
    await sell(demo, 1)
    await sell(demo, 1)
    assert (await demo.gql(LOW, {"s": demo.jingan}, as_="manager"))["lowStock"] == [{"product": {"name": "玫瑰精华水"}, "quantity": 2}]
    await receive(demo, 5)
    await sell(demo, 5)
    async with read_transaction(engine) as db:
        events = list(await db.execute(text("SELECT payload FROM outbox_events WHERE kind = 'stock.low'")))
    assert len(events) == 1 and '"quantity": 3' in events[0].payload and '"threshold": 3' in events[0].payload
    await assert_ledger_ok(engine)


async def test_bad_stock_inputs_are_coded_errors(demo):
    assert (await receive(demo, 0))["errors"][0]["code"] == "INVALID_VALUE"
    assert (await receive(demo, 100_001))["errors"][0]["code"] == "INVALID_VALUE"
    assert (await receive(demo, 1, store=demo.xuhui))["errors"][0]["code"] == "STORE_FORBIDDEN"
    assert (await receive(demo, 1, note="x" * 201))["errors"][0]["code"] == "TOO_LONG"
    bad = await demo.gql(RECEIVE, {"i": {"productId": demo.jingan, "storeId": demo.jingan, "quantity": 1, "idempotencyKey": "k"}}, as_="owner")
    assert bad["receiveStock"]["errors"][0] == {"code": "NOT_FOUND", "field": "productId", "message": "商品不存在"}
    assert await level(demo) is None
