"""Data migrations, checked from the revision before them."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from domain.brands import stores as tenancy
from domain.db import create_engine, read_transaction, write_transaction
from domain.ledger.postings import accounts
from domain.ledger.store_accounts import SHARD_SIZE, STORE_SHARDS
from domain.migrate import upgrade


async def test_0016_opens_every_shard_of_the_accounts_of_stores_that_exist(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    await asyncio.to_thread(upgrade, url, "0015")
    engine = create_engine(url)
    try:
        async with write_transaction(engine) as db:
            brand_id = await tenancy.create_brand(db, name="老品牌")
            store_id = await tenancy.create_store(db, brand_id=brand_id, name="老店")
            # An account a sale opened before the shards: it stays, as shard 0.
            await db.execute(accounts.insert().values(brand_id=brand_id, code=f"store:{store_id}:store_revenue", kind="STORE_REVENUE",
                                                      normal=-1, floor_zero=False, store_id=store_id, balance=0))
        await asyncio.to_thread(upgrade, url)
        async with read_transaction(engine) as db:
            codes = sorted((await db.execute(select(accounts.c.code).where(accounts.c.store_id == store_id))).scalars())
    finally:
        await engine.dispose()
    assert len(codes) == len(set(codes)) == STORE_SHARDS * SHARD_SIZE
    assert f"store:{store_id}:store_revenue" in codes and f"store:{store_id}:store_clearing#15" in codes
