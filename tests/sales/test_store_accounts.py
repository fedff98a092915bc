"""A store's ledger accounts are opened with the store, in shards (domain.ledger.store_accounts): a
checkout reads its shard's account ids and never creates one."""

from __future__ import annotations

from sqlalchemy import func, select

from domain.db import read_transaction
from domain.ledger.postings import accounts
from domain.ledger.store_accounts import SHARD_SIZE, STORE_SHARDS, shard_for
from resolvers.ids import decode_id
from tests.support import assert_ledger_ok, checkout, open_order


async def _store_accounts(engine, store_pk: int) -> list[str]:
    async with read_transaction(engine) as db:
        return sorted((await db.execute(select(accounts.c.code).where(accounts.c.store_id == store_pk))).scalars())


async def test_a_new_store_opens_every_shard_of_its_accounts(demo, engine):
    created = (await demo.gql("mutation { createStore(input: {name: \"陆家嘴店\"}) { store { id } errors { code } } }", as_="owner"))["createStore"]
    assert created["errors"] == []
    store_pk = decode_id(created["store"]["id"], "Store", "storeId")
    codes = await _store_accounts(engine, store_pk)
    assert len(codes) == STORE_SHARDS * SHARD_SIZE == 16 * 9
    assert f"store:{store_pk}:store_revenue" in codes and f"store:{store_pk}:store_revenue#15" in codes
    assert f"store:{store_pk}:store_tender:CASH#7" in codes and f"store:{store_pk}:store_discount:coupon#3" in codes


async def test_a_checkout_posts_to_its_orders_shard_and_creates_no_account(demo, engine):
    member = await demo.register("分片会员")
    card = (await demo.top_up(member["id"], 100_000))["card"]
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member["id"])
    async with read_transaction(engine) as db:
        before = (await db.execute(select(func.count()).select_from(accounts))).scalar_one()
    paid = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": card["id"]}])
    assert paid["errors"] == [], paid
    order_pk = decode_id(order["id"], "Order", "orderId")
    store_pk = decode_id(demo.jingan, "Store", "storeId")
    shard = shard_for(order_pk)
    suffix = f"#{shard}" if shard else ""
    async with read_transaction(engine) as db:
        assert (await db.execute(select(func.count()).select_from(accounts))).scalar_one() == before
        moved = dict((await db.execute(select(accounts.c.code, accounts.c.balance).where(accounts.c.store_id == store_pk, accounts.c.balance != 0))).all())
    [payment] = paid["order"]["breakdown"]["payments"]
    assert payment["principal"] > 0 and payment["gift"] > 0, payment
    # The top-up's cash went to its card's shard; the checkout's revenue and gift consumed to its order's.
    assert moved[f"store:{store_pk}:store_revenue{suffix}"] == payment["principal"]
    assert moved[f"store:{store_pk}:store_gift_consumed{suffix}"] == payment["gift"]
    assert sum(v for k, v in moved.items() if ":store_revenue" in k) == payment["principal"]
    await assert_ledger_ok(engine)
