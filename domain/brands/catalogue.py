"""The brand's catalogue: services (项目), retail products (零售), count-card products (次卡),
with brand prices optionally overridden per store."""

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
from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError
from domain.validation import check_amount, check_text

services = Table(
    "services",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("name", String(40), nullable=False),
    Column("category", String(20), nullable=False),
    Column("price", Id, nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
    CheckConstraint("price > 0 AND duration_minutes > 0", name="positive"),
)


retail_products = Table(
    "retail_products",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("name", String(40), nullable=False),
    Column("category", String(20), nullable=False),
    Column("price", Id, nullable=False),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
    CheckConstraint("price > 0", name="positive"),
)


async def check_unique_name(db: AsyncConnection, table: Table, brand_id: int, name: str) -> None:
    if await db.scalar(select(table.c.id).where(table.c.brand_id == brand_id, table.c.name == name)):
        raise DomainError("DUPLICATE_NAME", "name", name=name)


async def create_service(
    db: AsyncConnection, actor: Actor, *, name: str, price: int, duration_minutes: int, category: str
) -> int:
    name = check_text(name, "name", "项目名称", 40)
    category = check_text(category, "category", "分类", 20)
    check_amount(price, "price")
    if not 1 <= duration_minutes <= 24 * 60:
        raise DomainError("INVALID_VALUE", "durationMinutes", what="时长（1-1440分钟）")
    await check_unique_name(db, services, actor.brand_id, name)
    service_id = (
        await db.execute(
            insert(services)
            .values(brand_id=actor.brand_id, name=name, category=category, price=price, duration_minutes=duration_minutes)
            .returning(services.c.id)
        )
    ).scalar_one()
    await audit.record(db, actor, "service.create", "service", service_id, after={"name": name, "price": price, "category": category})
    return service_id


async def create_retail_product(db: AsyncConnection, actor: Actor, *, name: str, price: int, category: str | None) -> int:
    name = check_text(name, "name", "商品名称", 40)
    category = check_text(category or "零售", "category", "分类", 20)
    check_amount(price, "price")
    await check_unique_name(db, retail_products, actor.brand_id, name)
    product_id = (
        await db.execute(
            insert(retail_products).values(brand_id=actor.brand_id, name=name, category=category, price=price).returning(retail_products.c.id)
        )
    ).scalar_one()
    await audit.record(db, actor, "product.create", "retail_product", product_id, after={"name": name, "price": price})
    return product_id


async def list_services(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(services).where(services.c.brand_id == brand_id).order_by(services.c.id)))


async def list_retail_products(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(retail_products).where(retail_products.c.brand_id == brand_id).order_by(retail_products.c.id)))


async def services_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(services).where(services.c.id.in_(ids)))}
