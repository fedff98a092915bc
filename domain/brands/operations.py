"""The brand's store-operations rules (DESIGN.md §4): whether a sale may take stock below zero,
whether and at what fee count cards are cashed out, and the membership fee (会员费). Kept apart
from `brands` so these settings grow without touching the brand row every area reads; a brand
without a row has the defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Boolean, Column, ForeignKey, Integer, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.db import Id, insert_ignoring_conflicts, metadata
from domain.errors import DomainError
from domain.validation import check_amount

brand_operations = Table(
    "brand_operations",
    metadata,
    Column("brand_id", Id, ForeignKey("brands.id"), primary_key=True),
    Column("allow_negative_stock", Boolean, nullable=False, default=False),
    Column("count_card_cash_out", Boolean, nullable=False, default=False),
    # The share of a count card's unused value the brand keeps when it is cashed out (手续费).
    Column("count_card_cash_out_fee_percent", Integer, nullable=False, default=0),
    # None: registration is free.
    Column("membership_fee", Id, nullable=True),
)


@dataclass(frozen=True)
class OperationRules:
    allow_negative_stock: bool = False
    count_card_cash_out: bool = False
    count_card_cash_out_fee_percent: int = 0
    membership_fee: int | None = None


async def rules_of(db: AsyncConnection, brand_id: int) -> OperationRules:
    row = (await db.execute(select(brand_operations).where(brand_operations.c.brand_id == brand_id))).first()
    if row is None:
        return OperationRules()
    return OperationRules(row.allow_negative_stock, row.count_card_cash_out, row.count_card_cash_out_fee_percent, row.membership_fee)


async def update_rules(
    db: AsyncConnection, actor: Actor, *, allow_negative_stock: bool | None = None, count_card_cash_out: bool | None = None,
    count_card_cash_out_fee_percent: int | None = None, membership_fee: int | None = None,
) -> OperationRules:
    """Only what is given changes; a membership fee of 0 makes registration free again."""
    values: dict = {}
    if allow_negative_stock is not None:
        values["allow_negative_stock"] = allow_negative_stock
    if count_card_cash_out is not None:
        values["count_card_cash_out"] = count_card_cash_out
    if count_card_cash_out_fee_percent is not None:
        if isinstance(count_card_cash_out_fee_percent, bool) or not 0 <= count_card_cash_out_fee_percent <= 100:
            raise DomainError("INVALID_VALUE", "countCardCashOutFeePercent", what="退卡手续费比例（0-100%）")
        values["count_card_cash_out_fee_percent"] = count_card_cash_out_fee_percent
    if membership_fee is not None:
        values["membership_fee"] = check_amount(membership_fee, "membershipFee") if membership_fee != 0 else None
    before = asdict(await rules_of(db, actor.brand_id))
    if values:
        await db.execute(insert_ignoring_conflicts(db, brand_operations).values(brand_id=actor.brand_id, **asdict(OperationRules())))
        await db.execute(update(brand_operations).where(brand_operations.c.brand_id == actor.brand_id).values(**values))
        await audit.record(db, actor, "brand.operations", "brand", actor.brand_id, before={k: before[k] for k in values}, after=values)
    return await rules_of(db, actor.brand_id)
