"""Count-card products (次卡): sessions or time cards, the services they cover, the stores that accept them, use limits."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.catalogue import check_unique_name, services
from domain.brands.stores import get_store
from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError
from domain.validation import check_amount, check_text

count_card_products = Table(
    "count_card_products",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("name", String(40), nullable=False),
    # None: a time card (年卡/月卡), unlimited within validity.
    Column("sessions", Integer, nullable=True),
    Column("price", Id, nullable=False),
    Column("valid_days", Integer, nullable=False),
    Column("daily_limit", Integer, nullable=True),
    Column("weekly_limit", Integer, nullable=True),
    # 需提前预约: its sessions pay only an order opened by a booking's check-in.
    Column("requires_booking", Boolean, nullable=False, default=False),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
    CheckConstraint("price > 0 AND valid_days > 0 AND (sessions IS NULL OR sessions > 0)", name="positive"),
)


count_card_product_services = Table(
    "count_card_product_services",
    metadata,
    Column("id", Id, primary_key=True),
    Column("product_id", Id, ForeignKey("count_card_products.id"), nullable=False),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    UniqueConstraint("product_id", "service_id"),
)


# Stores that accept a count card; none listed means every store of the brand.
count_card_product_stores = Table(
    "count_card_product_stores",
    metadata,
    Column("id", Id, primary_key=True),
    Column("product_id", Id, ForeignKey("count_card_products.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    UniqueConstraint("product_id", "store_id"),
)


async def create_count_card_product(
    db: AsyncConnection,
    actor: Actor,
    *,
    name: str,
    service_ids: list[int],
    sessions: int | None,
    price: int,
    valid_days: int,
    daily_limit: int | None,
    weekly_limit: int | None,
    store_ids: list[int],
    requires_booking: bool = False,
) -> int:
    """项目次卡 (one service), 通用次卡 (several), or a time card when `sessions` is None."""
    name = check_text(name, "name", "次卡名称", 40)
    check_amount(price, "price")
    if not service_ids:
        raise DomainError("REQUIRED", "serviceIds", what="适用项目")
    if len(set(service_ids)) > 50:
        raise DomainError("TOO_MANY", "serviceIds", what="适用项目", max=50)
    if sessions is not None and not 1 <= sessions <= 1000:
        raise DomainError("INVALID_VALUE", "sessions", what="次数（1-1000）")
    if not 1 <= valid_days <= 3660:
        raise DomainError("INVALID_VALUE", "validDays", what="有效天数（1-3660）")
    for field, limit in (("dailyLimit", daily_limit), ("weeklyLimit", weekly_limit)):
        if limit is not None and not 1 <= limit <= 100:
            raise DomainError("INVALID_VALUE", field, what="使用次数限制（1-100）")
    found = set(
        (await db.execute(select(services.c.id).where(services.c.brand_id == actor.brand_id, services.c.id.in_(service_ids)))).scalars()
    )
    if found != set(service_ids):
        raise DomainError("NOT_FOUND", "serviceIds", what="项目")
    for store_id in store_ids:
        await get_store(db, actor, store_id, field="storeIds", act=False)
    await check_unique_name(db, count_card_products, actor.brand_id, name)
    product_id = (
        await db.execute(
            insert(count_card_products)
            .values(brand_id=actor.brand_id, name=name, sessions=sessions, price=price, valid_days=valid_days,
                    daily_limit=daily_limit, weekly_limit=weekly_limit, requires_booking=bool(requires_booking))
            .returning(count_card_products.c.id)
        )
    ).scalar_one()
    await db.execute(insert(count_card_product_services), [{"product_id": product_id, "service_id": s} for s in sorted(set(service_ids))])
    if store_ids:
        await db.execute(insert(count_card_product_stores), [{"product_id": product_id, "store_id": s} for s in sorted(set(store_ids))])
    await audit.record(
        db, actor, "count_card_product.create", "count_card_product", product_id,
        after={"name": name, "sessions": sessions, "price": price, "valid_days": valid_days, "services": sorted(set(service_ids))},
    )
    return product_id


async def list_count_card_products(db: AsyncConnection, brand_id: int, store_id: int | None = None) -> list:
    stmt = select(count_card_products).where(count_card_products.c.brand_id == brand_id).order_by(count_card_products.c.id)
    rows = list(await db.execute(stmt))
    if store_id is None:
        return rows
    scopes = await count_card_scopes(db, [r.id for r in rows])
    return [r for r in rows if not scopes[r.id] or store_id in scopes[r.id]]


async def count_card_scopes(db: AsyncConnection, product_ids: list[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {i: set() for i in product_ids}
    for product_id, store_id in await db.execute(
        select(count_card_product_stores.c.product_id, count_card_product_stores.c.store_id).where(count_card_product_stores.c.product_id.in_(product_ids))
    ):
        found[product_id].add(store_id)
    return found


async def count_card_services(db: AsyncConnection, product_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {i: [] for i in product_ids}
    for product_id, service_id in await db.execute(
        select(count_card_product_services.c.product_id, count_card_product_services.c.service_id)
        .where(count_card_product_services.c.product_id.in_(product_ids)).order_by(count_card_product_services.c.service_id)
    ):
        found[product_id].append(service_id)
    return found


async def count_card_products_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(count_card_products).where(count_card_products.c.id.in_(ids)))}
