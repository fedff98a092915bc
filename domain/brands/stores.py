"""Brands (tenants), stores, staff accounts, roles, and who is acting (`Actor`)."""

from __future__ import annotations

import enum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError
from domain.validation import check_text


class SplitRule(enum.StrEnum):
    """Which balance of a stored-value card pays (DESIGN.md §4)."""

    PROPORTIONAL = "PROPORTIONAL"
    PRINCIPAL_FIRST = "PRINCIPAL_FIRST"
    GIFT_FIRST = "GIFT_FIRST"


brands = Table(
    "brands",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(60), nullable=False),
    Column("split_rule", String(20), nullable=False, default=SplitRule.PROPORTIONAL.value),
    # The share of consumed value the selling store pays the serving store, in basis points.
    Column("settlement_rate_bp", Integer, nullable=False, default=10000),
    Column("timezone", String(40), nullable=False, default="Asia/Shanghai"),
    Column("member_seq", Integer, nullable=False, default=0),
    # The card a customer's first top-up in the mini-program opens; None: the brand's first product.
    Column("default_card_product_id", Id, nullable=True),
    # Tier rules (domain.members.tiers): thresholds in fen on cumulative top-up principal or on
    # spend (tier_basis), and the points each tier earns per yuan, in percent.
    Column("silver_threshold", Id, nullable=False, default=300_000),
    Column("gold_threshold", Id, nullable=False, default=1_000_000),
    Column("tier_basis", String(10), nullable=False, default="TOP_UP"),
    Column("normal_points_pct", Integer, nullable=False, default=100),
    Column("silver_points_pct", Integer, nullable=False, default=120),
    Column("gold_points_pct", Integer, nullable=False, default=150),
    created_at_column(),
    CheckConstraint("settlement_rate_bp BETWEEN 0 AND 10000", name="settlement_rate"),
)


stores = Table(
    "stores",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False, index=True),
    Column("name", String(60), nullable=False),
    Column("timezone", String(40), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
)


async def create_brand(db: AsyncConnection, *, name: str) -> int:
    name = check_text(name, "name", "品牌名称", 60)
    return (await db.execute(insert(brands).values(name=name).returning(brands.c.id))).scalar_one()


async def create_store(db: AsyncConnection, *, brand_id: int, name: str, field: str = "name") -> int:
    name = check_text(name, field, "门店名称", 60)
    taken = await db.scalar(select(stores.c.id).where(stores.c.brand_id == brand_id, stores.c.name == name))
    if taken:
        raise DomainError("DUPLICATE_NAME", field, name=name)
    return (
        await db.execute(insert(stores).values(brand_id=brand_id, name=name).returning(stores.c.id))
    ).scalar_one()


async def get_store(db: AsyncConnection, actor: Actor, store_id: int, *, field: str = "storeId", act: bool = True):
    """The store, if it is the actor's brand's; `act` also requires that the actor may act for it."""
    row = (await db.execute(select(stores).where(stores.c.id == store_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="门店")
    if act and not actor.can_act_for_store(store_id):
        raise DomainError("STORE_FORBIDDEN", field)
    return row


async def stores_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(stores).where(stores.c.id.in_(ids)))}


async def list_stores(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(stores).where(stores.c.brand_id == brand_id).order_by(stores.c.id)))


async def get_brand(db: AsyncConnection, brand_id: int):
    return (await db.execute(select(brands).where(brands.c.id == brand_id))).one()


async def update_brand_settings(
    db: AsyncConnection, actor: Actor, *, split_rule: SplitRule | None = None, settlement_rate_bp: int | None = None,
) -> None:
    """The brand's own rules; the card a first mini-program top-up opens is the cards area's
    (`cards.stored_value.set_default_product`), since brands sit above cards."""
    before = await get_brand(db, actor.brand_id)
    values: dict = {}
    if split_rule is not None:
        values["split_rule"] = split_rule.value
    if settlement_rate_bp is not None:
        if not 0 <= settlement_rate_bp <= 10000:
            raise DomainError("INVALID_VALUE", "settlementRatePercent", what="结算比例（0-100%）")
        values["settlement_rate_bp"] = settlement_rate_bp
    if values:
        await db.execute(update(brands).where(brands.c.id == actor.brand_id).values(**values))
        await audit.record(
            db, actor, "brand.settings", "brand", actor.brand_id,
            before={k: getattr(before, k) for k in values}, after=values,
        )


async def store_timezone(db: AsyncConnection, store_id: int, brand_id: int) -> str:
    row = (await db.execute(select(stores.c.timezone, brands.c.timezone.label("brand_tz")).join(brands, brands.c.id == stores.c.brand_id).where(stores.c.id == store_id))).one()
    return row.timezone or row.brand_tz
