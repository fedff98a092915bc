"""The brand's store-operations rules (DESIGN.md §4): whether a sale may take stock below zero.
Kept apart from `brands` so these settings grow without touching the brand row every area reads;
a brand without a row has the defaults."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, Column, ForeignKey, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.db import Id, insert_ignoring_conflicts, metadata

brand_operations = Table(
    "brand_operations",
    metadata,
    Column("brand_id", Id, ForeignKey("brands.id"), primary_key=True),
    Column("allow_negative_stock", Boolean, nullable=False, default=False),
)


@dataclass(frozen=True)
class OperationRules:
    allow_negative_stock: bool = False


async def rules_of(db: AsyncConnection, brand_id: int) -> OperationRules:
    row = (await db.execute(select(brand_operations).where(brand_operations.c.brand_id == brand_id))).first()
    return OperationRules() if row is None else OperationRules(row.allow_negative_stock)


async def update_rules(db: AsyncConnection, actor: Actor, *, allow_negative_stock: bool | None = None) -> OperationRules:
    before = await rules_of(db, actor.brand_id)
    values = {k: v for k, v in {"allow_negative_stock": allow_negative_stock}.items() if v is not None}
    if values:
        await db.execute(insert_ignoring_conflicts(db, brand_operations).values(brand_id=actor.brand_id, allow_negative_stock=False))
        await db.execute(update(brand_operations).where(brand_operations.c.brand_id == actor.brand_id).values(**values))
        await audit.record(db, actor, "brand.operations", "brand", actor.brand_id,
                           before={k: getattr(before, k) for k in values}, after=values)
    return await rules_of(db, actor.brand_id)
