"""Cross-store risk control (跨店风险管控): a card product names the stores that accept it and caps
what one card spends per day away from its issuing store; a refused checkout moves nothing, and
the cap holds when checkouts of one card race (PostgreSQL: real parallel connections)."""

import asyncio
import uuid

from sqlalchemy import text

from domain.db import read_transaction
from tests.support import assert_ledger_ok, checkout, open_order

ERRORS = "errors { code field message }"
CREATE_PRODUCT = f"""mutation($i: CreateStoredValueCardProductInput!) {{ createStoredValueCardProduct(input: $i) {{
  product {{ id name acceptedStores {{ id }} crossStoreDailyLimit }} {ERRORS} }} }}"""
CREATE_STORE = f"mutation($i: CreateStoreInput!) {{ createStore(input: $i) {{ store {{ id }} {ERRORS} }} }}"
LIMIT = 20_000  # ¥200 a day away from home: two ¥88 haircuts (17,600), not three


async def cross_store_card(demo, *, accepted: list[str] | None, limit: int | None = LIMIT) -> tuple[str, str]:
    product = await demo.gql(CREATE_PRODUCT, {"i": {"name": f"跨店卡{uuid.uuid4().hex[:6]}", "serviceDiscountPercent": 100,
                                                   "acceptedStoreIds": accepted, "crossStoreDailyLimit": limit}}, as_="owner")
    created = product["createStoredValueCardProduct"]
    assert created["errors"] == [], created
    member = await demo.register()
    demo.products[created["product"]["name"]] = created["product"]["id"]
    topped = await demo.top_up(member["id"], 100_000, product=created["product"]["name"])
    assert topped["errors"] == [] and topped["card"]["principal"] == 100_000
    return member["id"], topped["card"]["id"]


async def haircut(demo, member, card, store, *, key=None):
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member, store=store, as_="owner")
    return order, await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card}], key=key, as_="owner")


async def test_the_product_shows_its_rules_and_bad_rules_are_refused(demo):
    bad_limit = await demo.gql(CREATE_PRODUCT, {"i": {"name": "限额卡", "crossStoreDailyLimit": 0}}, as_="owner")
    assert bad_limit["createStoredValueCardProduct"]["errors"][0]["code"] == "AMOUNT_NOT_POSITIVE"
    bad_store = await demo.gql(CREATE_PRODUCT, {"i": {"name": "限店卡", "acceptedStoreIds": [demo.services["洗剪吹"]["id"]]}}, as_="owner")
    assert bad_store["createStoredValueCardProduct"]["errors"][0] == {"code": "NOT_FOUND", "field": "acceptedStoreIds.0", "message": "门店不存在"}
    good = await demo.gql(CREATE_PRODUCT, {"i": {"name": "两店卡", "acceptedStoreIds": [demo.xuhui, demo.jingan], "crossStoreDailyLimit": LIMIT}}, as_="owner")
    product = good["createStoredValueCardProduct"]["product"]
    assert {s["id"] for s in product["acceptedStores"]} == {demo.jingan, demo.xuhui} and product["crossStoreDailyLimit"] == LIMIT
    listed = (await demo.gql("{ storedValueCardProducts { name crossStoreDailyLimit acceptedStores { id } } }", as_="reception"))["storedValueCardProducts"]
    assert {p["name"]: p["crossStoreDailyLimit"] for p in listed} == {"金卡": None, "银卡": None, "两店卡": LIMIT}


async def test_a_store_not_accepted_and_spending_past_the_daily_cap_are_refused(demo, engine):
    lujiazui = (await demo.gql(CREATE_STORE, {"i": {"name": "陆家嘴店"}}, as_="owner"))["createStore"]["store"]["id"]
    member, card = await cross_store_card(demo, accepted=[demo.jingan, demo.xuhui])
    _, refused = await haircut(demo, member, card, lujiazui)
    assert refused["order"] is None and refused["errors"][0] == {"code": "CARD_STORE_NOT_ACCEPTED", "field": "payments.0.cardId",
                                                                 "message": "该卡不能在本店使用"}
    for _ in range(2):
        _, paid = await haircut(demo, member, card, demo.xuhui)
        assert paid["errors"] == [] and paid["order"]["paid"] == 8_800
    order, over = await haircut(demo, member, card, demo.xuhui)
    assert [e["code"] for e in over["errors"]] == ["CROSS_STORE_LIMIT_EXCEEDED"] and "¥24.00" in over["errors"][0]["message"]
    # At home the card is not capped.
    for _ in range(3):
        _, home = await haircut(demo, member, card, demo.jingan)
        assert home["errors"] == []
    async with read_transaction(engine) as db:
        assert await db.scalar(text("SELECT status FROM orders WHERE id = (SELECT max(id) FROM orders WHERE store_id <> "
                                    "(SELECT issued_store_id FROM stored_value_cards ORDER BY id DESC LIMIT 1) AND status = 'OPEN')")) == "OPEN"
        assert await db.scalar(text("SELECT balance FROM accounts WHERE code = :c"), {"c": f"svcard:{_pk(card)}:principal"}) == 100_000 - 5 * 8_800
    await assert_ledger_ok(engine)


def _pk(gid: str) -> int:
    import base64

    return int(base64.b64decode(gid).decode().split(":")[1])


async def test_the_cap_holds_when_checkouts_of_one_card_race(demo, engine):
    member, card = await cross_store_card(demo, accepted=None)
    orders = [await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member, store=demo.xuhui, as_="owner")
              for _ in range(6)]
    results = await asyncio.gather(*(checkout(demo, o["id"], [{"method": "STORED_VALUE", "cardId": card}], as_="owner") for o in orders))
    codes = sorted(r["errors"][0]["code"] if r["errors"] else "PAID" for r in results)
    assert codes == ["CROSS_STORE_LIMIT_EXCEEDED"] * 4 + ["PAID"] * 2, results
    async with read_transaction(engine) as db:
        assert await db.scalar(text("SELECT count(*) FROM orders WHERE status = 'PAID' AND store_id <> "
                                    "(SELECT issued_store_id FROM stored_value_cards ORDER BY id DESC LIMIT 1)")) == 2
        assert await db.scalar(text("SELECT balance FROM accounts WHERE code = :c"), {"c": f"svcard:{_pk(card)}:principal"}) == 100_000 - 2 * 8_800
    await assert_ledger_ok(engine)
