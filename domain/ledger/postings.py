"""The double-entry ledger: accounts with running balances, and transfers whose postings sum to zero.

Sign convention: a posting's `amount` is positive for a debit and negative for a credit, so the
postings of every transfer sum to zero. An account's `balance` is kept in its natural direction:
`balance = normal * sum(postings.amount)` where `normal` is +1 for debit-normal accounts (tenders,
receivables, discounts, gift issued) and -1 for credit-normal ones (card balances, revenue).
Accounts with `floor_zero` (card principal and gift) can never go below zero: the balance update is
conditional, so two concurrent spends cannot both pass a stale check.

The ledger knows nothing of cards or orders; everything depends on it, never the reverse.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.prepared import Prepared

DEBIT = 1


CREDIT = -1


class AccountKind(enum.StrEnum):
    CARD_PRINCIPAL = "CARD_PRINCIPAL"
    CARD_GIFT = "CARD_GIFT"
    MEMBER_RECEIVABLE = "MEMBER_RECEIVABLE"
    STORE_TENDER = "STORE_TENDER"
    STORE_REVENUE = "STORE_REVENUE"
    STORE_DISCOUNT = "STORE_DISCOUNT"
    STORE_GIFT_ISSUED = "STORE_GIFT_ISSUED"
    STORE_GIFT_CONSUMED = "STORE_GIFT_CONSUMED"
    STORE_CLEARING = "STORE_CLEARING"
    COUNT_CARD_LIABILITY = "COUNT_CARD_LIABILITY"
    # Refunds owed back through WeChat Pay / Alipay that the platform has not yet confirmed.
    PLATFORM_REFUND_PAYABLE = "PLATFORM_REFUND_PAYABLE"
    # Gift balance of cards cashed out (退卡): the member gives it up, the store keeps it.
    STORE_GIFT_FORFEITED = "STORE_GIFT_FORFEITED"


NORMAL_SIDE = {
    AccountKind.CARD_PRINCIPAL: CREDIT,
    AccountKind.CARD_GIFT: CREDIT,
    AccountKind.MEMBER_RECEIVABLE: DEBIT,
    AccountKind.STORE_TENDER: DEBIT,
    AccountKind.STORE_REVENUE: CREDIT,
    AccountKind.STORE_DISCOUNT: DEBIT,
    AccountKind.STORE_GIFT_ISSUED: DEBIT,
    AccountKind.STORE_GIFT_CONSUMED: CREDIT,
    AccountKind.STORE_CLEARING: DEBIT,
    AccountKind.COUNT_CARD_LIABILITY: CREDIT,
    AccountKind.PLATFORM_REFUND_PAYABLE: CREDIT,
    AccountKind.STORE_GIFT_FORFEITED: CREDIT,
}


accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    # A stable name unique within the brand, e.g. `store:3:tender:CASH` or `svcard:12:principal`.
    Column("code", String(80), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("normal", SmallInteger, nullable=False),
    Column("floor_zero", Boolean, nullable=False, default=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("member_id", Id, nullable=True, index=True),
    Column("card_id", Id, nullable=True),
    Column("balance", Id, nullable=False, default=0),
    # The most the balance may reach, e.g. a member's on-account credit limit; None is unbounded.
    Column("ceiling", Id, nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "code"),
    CheckConstraint("normal IN (1, -1)", name="normal"),
    CheckConstraint("NOT floor_zero OR balance >= 0", name="floor"),
)


transfers = Table(
    "transfers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("kind", String(30), nullable=False),
    # One business event, one transfer: a repeated reference is refused by the database.
    Column("reference", String(160), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("member_id", Id, nullable=True),
    Column("reverses_id", Id, ForeignKey("transfers.id"), nullable=True, index=True),
    Column("memo", String(200), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "reference"),
)


postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False, index=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("amount", Id, nullable=False),
    Column("balance_after", Id, nullable=False),
    CheckConstraint("amount <> 0", name="nonzero"),
    Index("ix_postings_account_id_id", "account_id", "id"),
)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    kind: AccountKind
    store_id: int | None = None
    member_id: int | None = None
    card_id: int | None = None

    @property
    def floor_zero(self) -> bool:
        return self.kind in (AccountKind.CARD_PRINCIPAL, AccountKind.CARD_GIFT, AccountKind.COUNT_CARD_LIABILITY)


@lru_cache(maxsize=8192)  # a checkout names ten of a shard's accounts twice over; the specs are immutable
def store_account(kind: AccountKind, store_id: int, method: str | None = None, *, shard: int = 0) -> AccountSpec:
    """A store's account; `shard` > 0 names one of its shards (domain.ledger.store_accounts)."""
    suffix = f":{method}" if method else ""
    shard_suffix = f"#{shard}" if shard else ""
    return AccountSpec(f"store:{store_id}:{kind.value.lower()}{suffix}{shard_suffix}", kind, store_id=store_id)


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting to be made: `amount` > 0 debits the account, < 0 credits it."""

    account_id: int
    amount: int


async def ensure_accounts(db: AsyncConnection, brand_id: int, specs: list[AccountSpec]) -> dict[str, int]:
    """Account ids by code, creating the missing ones. Concurrent creators are safe: the unique
    (brand, code) turns the loser's insert into a no-op."""
    codes = [s.code for s in specs]
    found = dict((await db.execute(_ids_by_code, {"brand_id": brand_id, "codes": codes})).all())
    missing = [s for s in specs if s.code not in found]
    if missing:
        await db.execute(
            insert_ignoring_conflicts(db, accounts),
            [
                {
                    "brand_id": brand_id,
                    "code": s.code,
                    "kind": s.kind.value,
                    "normal": NORMAL_SIDE[s.kind],
                    "floor_zero": s.floor_zero,
                    "store_id": s.store_id,
                    "member_id": s.member_id,
                    "card_id": s.card_id,
                    "balance": 0,
                }
                for s in missing
            ],
        )
        found = dict((await db.execute(_ids_by_code, {"brand_id": brand_id, "codes": codes})).all())
    return found


_ids_by_code = select(accounts.c.code, accounts.c.id).where(
    accounts.c.brand_id == bindparam("brand_id"), accounts.c.code.in_(bindparam("codes", expanding=True))
)


_apply_leg = (
    update(accounts)
    .where(
        accounts.c.id == bindparam("leg_account", type_=Id),
        or_(
            accounts.c.floor_zero == False,  # noqa: E712 - SQL expression
            accounts.c.balance + accounts.c.normal * bindparam("leg_amount", type_=Id) >= 0,
        ),
        or_(
            accounts.c.ceiling.is_(None),
            accounts.c.normal * bindparam("leg_amount", type_=Id) <= 0,
            accounts.c.balance + accounts.c.normal * bindparam("leg_amount", type_=Id) <= accounts.c.ceiling,
        ),
    )
    .values(balance=accounts.c.balance + accounts.c.normal * bindparam("leg_amount", type_=Id))
    .returning(accounts.c.balance)
)


_insert_transfer = insert(transfers).returning(transfers.c.id)
_insert_postings = insert(postings)


class InsufficientFunds(DomainError):
    """A conditional balance update found the account below its floor or above its ceiling."""

    def __init__(self, account_id: int) -> None:
        super().__init__("INSUFFICIENT_BALANCE", available="—")
        self.account_id = account_id


async def post_transfer(
    db: AsyncConnection,
    *,
    brand_id: int,
    kind: str,
    reference: str,
    legs: list[Leg],
    store_id: int | None = None,
    staff_id: int | None = None,
    member_id: int | None = None,
    reverses_id: int | None = None,
    memo: str | None = None,
) -> tuple[int, dict[int, int]]:
    """Record one balanced transfer; returns its id and each touched account's balance after it.

    Legs on the same account are merged; zero legs are dropped. Balances are updated in descending
    account-id order: one order for every transfer, so two cannot deadlock on PostgreSQL, and the
    oldest accounts, a store's tender and revenue that every sale there touches, are locked last
    and held the shortest.
    """
    merged: dict[int, int] = {}
    for leg in legs:
        merged[leg.account_id] = merged.get(leg.account_id, 0) + leg.amount
    merged = {a: m for a, m in merged.items() if m}
    if sum(merged.values()) != 0:
        raise AssertionError(f"unbalanced transfer {kind} {reference}: {merged}")
    if not merged:
        raise AssertionError(f"empty transfer {kind} {reference}")
    transfer = {
        "brand_id": brand_id, "kind": kind, "reference": reference, "store_id": store_id, "staff_id": staff_id,
        "member_id": member_id, "reverses_id": reverses_id, "memo": memo, "created_at": utcnow(),
    }
    if db.dialect.name == "postgresql":
        return await _post_in_one_statement(db, transfer, merged)
    transfer_id = (await db.execute(_insert_transfer, transfer)).scalar_one()
    after: dict[int, int] = {}
    for account_id in sorted(merged, reverse=True):
        balance = (
            await db.execute(_apply_leg, {"leg_account": account_id, "leg_amount": merged[account_id]})
        ).scalar_one_or_none()
        if balance is None:
            raise InsufficientFunds(account_id)
        after[account_id] = balance
    await db.execute(
        _insert_postings,
        [
            {"transfer_id": transfer_id, "account_id": a, "amount": merged[a], "balance_after": after[a]}
            for a in sorted(merged)
        ],
    )
    return transfer_id, after


# PostgreSQL does a transfer in one round trip: the transfer row, every leg's balance update and its
# posting. `locked` takes the accounts' row locks in descending id order before any is updated (the
# order every transfer keeps, so two cannot deadlock); a leg whose floor or ceiling refuses it is
# simply not updated, and the caller sees fewer postings than legs.
_POST_TRANSFER = Prepared(text("""
WITH t AS (
    INSERT INTO transfers (brand_id, kind, reference, store_id, staff_id, member_id, reverses_id, memo, created_at)
    VALUES (:brand_id, :kind, :reference, :store_id, :staff_id, :member_id, :reverses_id, :memo, :created_at)
    RETURNING id
), legs AS (
    SELECT * FROM unnest(CAST(:leg_ids AS BIGINT[]), CAST(:leg_amounts AS BIGINT[])) AS l(account_id, amount)
), locked AS MATERIALIZED (
    SELECT a.id FROM accounts a WHERE a.id = ANY(CAST(:leg_ids AS BIGINT[])) ORDER BY a.id DESC FOR UPDATE
), moved AS (
    UPDATE accounts a SET balance = a.balance + a.normal * l.amount
    FROM legs l
    WHERE a.id = l.account_id AND a.id IN (SELECT id FROM locked)
      AND (NOT a.floor_zero OR a.balance + a.normal * l.amount >= 0)
      AND (a.ceiling IS NULL OR a.normal * l.amount <= 0 OR a.balance + a.normal * l.amount <= a.ceiling)
    RETURNING a.id, a.balance, l.amount
)
INSERT INTO postings (transfer_id, account_id, amount, balance_after)
SELECT t.id, m.id, m.amount, m.balance FROM t, moved m ORDER BY m.id
RETURNING transfer_id, account_id, balance_after
"""))


async def _post_in_one_statement(db: AsyncConnection, transfer: dict, merged: dict[int, int]) -> tuple[int, dict[int, int]]:
    ids = sorted(merged)
    rows = (await _POST_TRANSFER.execute(db, {**transfer, "leg_ids": ids, "leg_amounts": [merged[a] for a in ids]})).all()
    after = {row.account_id: row.balance_after for row in rows}
    refused = [a for a in ids if a not in after]
    if refused:
        # The statement's writes go with the caller's transaction, which this error rolls back.
        raise InsufficientFunds(max(refused))
    return rows[0].transfer_id, after
