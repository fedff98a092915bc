"""A store's own ledger accounts (tenders, revenue, coupon discounts, gift issued and consumed,
clearing), opened with the store in shards.

Every checkout at a store credits its revenue and debits a tender: with one row per account, each
checkout would hold that row's lock from its balance update to its commit and a busy store's
checkouts would run one at a time. Each such account is therefore `STORE_SHARDS` accounts of the
same kind and store (codes `store:3:store_revenue`, `store:3:store_revenue#1`, …), and a sale posts to
the shard its order picks. Each shard keeps its own balance and postings, so `meiye ledger verify`
proves every one; a store's figure is the sum over its shards, which is how every report reads
accounts already (by kind and store, never by one code).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.brands.stores import create_store
from domain.ledger.postings import AccountKind, AccountSpec, accounts, ensure_accounts, store_account

STORE_SHARDS = 16
DESK_METHODS = ("CASH", "BANK_CARD", "WECHAT", "ALIPAY")
COUPON = "coupon"


def shard_for(key: int) -> int:
    """The shard a sale posts to: spread by its order (or card) id, the same one for a retry."""
    return key % STORE_SHARDS


@lru_cache(maxsize=1024)
def shard_specs(store_id: int, shard: int) -> tuple[AccountSpec, ...]:
    return (
        *(store_account(AccountKind.STORE_TENDER, store_id, method, shard=shard) for method in DESK_METHODS),
        store_account(AccountKind.STORE_REVENUE, store_id, shard=shard),
        store_account(AccountKind.STORE_DISCOUNT, store_id, COUPON, shard=shard),
        store_account(AccountKind.STORE_GIFT_ISSUED, store_id, shard=shard),
        store_account(AccountKind.STORE_GIFT_CONSUMED, store_id, shard=shard),
        store_account(AccountKind.STORE_CLEARING, store_id, shard=shard),
    )


async def open_store(db: AsyncConnection, *, brand_id: int, name: str, field: str = "name") -> int:
    """A new store with its accounts (domain.brands.stores.create_store alone opens none)."""
    store_id = await create_store(db, brand_id=brand_id, name=name, field=field)
    await open_store_accounts(db, brand_id, store_id)
    return store_id


async def open_store_accounts(db: AsyncConnection, brand_id: int, store_id: int) -> None:
    """Every shard of a new store's accounts, so that no sale ever creates one (and no sale waits
    on another creating it)."""
    await ensure_accounts(db, brand_id, [spec for shard in range(STORE_SHARDS) for spec in shard_specs(store_id, shard)])


@dataclass(frozen=True)
class ShardAccounts:
    """One shard of a store's accounts, by kind (and tender method)."""

    store_id: int
    shard: int
    ids: dict[str, int]

    def id(self, kind: AccountKind, method: str | None = None) -> int:
        return self.ids[store_account(kind, self.store_id, method, shard=self.shard).code]


SHARD_SIZE = len(shard_specs(0, 0))


def shard_account_ids(brand_id, codes) -> list:
    """Columns for a read that wants a shard's account ids with its other data (one subquery per
    code, `codes` bind parameters in `shard_specs` order)."""
    return [
        select(accounts.c.id).where(accounts.c.brand_id == brand_id, accounts.c.code == code).scalar_subquery().label(f"shard_account_{i}")
        for i, code in enumerate(codes)
    ]


def shard_from_row(row, store_id: int, shard: int) -> ShardAccounts | None:
    """The shard's accounts read by `shard_account_ids`; None when the store lacks one of them."""
    specs = shard_specs(store_id, shard)
    ids = {spec.code: getattr(row, f"shard_account_{i}") for i, spec in enumerate(specs)}
    return None if None in ids.values() else ShardAccounts(store_id, shard, ids)


async def shard_accounts(db: AsyncConnection, brand_id: int, store_id: int, shard: int) -> ShardAccounts:
    """One read for all the accounts a sale at the store may post to (a store opened before its
    accounts were, e.g. in a test's own setup, gets them here)."""
    return ShardAccounts(store_id, shard, await ensure_accounts(db, brand_id, shard_specs(store_id, shard)))
