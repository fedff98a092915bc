"""Cross-store settlement (跨店结算): a card used in a store other than the one that sold it
creates an item; the selling store owes the serving store the consumed value times the brand's
settlement rate. The ledger carries it on the two stores' clearing accounts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, created_at_column, metadata, utcnow
from domain.ledger.postings import AccountKind, Leg, ensure_accounts, store_account

settlement_items = Table(
    "settlement_items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("order_id", Id, nullable=True),
    Column("kind", String(20), nullable=False),
    Column("payer_store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("payee_store_id", Id, ForeignKey("stores.id"), nullable=False),
    # Negative on refunds: a refund takes back its share of the item it reverses.
    Column("consumed", Id, nullable=False),
    Column("rate_bp", Integer, nullable=False),
    Column("amount", Id, nullable=False),
    created_at_column(),
    Index("ix_settlement_items_brand_id_created_at", "brand_id", "created_at"),
)


def settlement_amount(consumed: int, rate_bp: int) -> int:
    """consumed × rate, rounded half away from zero to the fen."""
    sign = -1 if consumed < 0 else 1
    return sign * ((abs(consumed) * rate_bp + 5000) // 10000)


@dataclass(frozen=True)
class PendingItem:
    kind: str
    payer_store_id: int
    payee_store_id: int
    consumed: int
    rate_bp: int

    @property
    def amount(self) -> int:
        return settlement_amount(self.consumed, self.rate_bp)


async def clearing_legs(db: AsyncConnection, brand_id: int, items: list[PendingItem], *, shard: int = 0) -> list[Leg]:
    """The serving store's clearing account is owed what the selling store's owes (on the sale's
    shard of each, domain.ledger.store_accounts)."""
    legs: list[Leg] = []
    stores = sorted({s for i in items for s in (i.payer_store_id, i.payee_store_id)})
    if not stores:
        return legs
    code = {s: store_account(AccountKind.STORE_CLEARING, s, shard=shard).code for s in stores}
    ids = await ensure_accounts(db, brand_id, [store_account(AccountKind.STORE_CLEARING, s, shard=shard) for s in stores])
    for item in items:
        if item.amount:
            legs.append(Leg(ids[code[item.payee_store_id]], item.amount))
            legs.append(Leg(ids[code[item.payer_store_id]], -item.amount))
    return legs


async def record_items(db: AsyncConnection, brand_id: int, transfer_id: int, order_id: int | None, items: list[PendingItem]) -> None:
    if items:
        now = utcnow()
        await db.execute(
            insert(settlement_items),
            [
                {"brand_id": brand_id, "transfer_id": transfer_id, "order_id": order_id, "kind": i.kind, "payer_store_id": i.payer_store_id,
                 "payee_store_id": i.payee_store_id, "consumed": i.consumed, "rate_bp": i.rate_bp, "amount": i.amount, "created_at": now}
                for i in items
            ],
        )
