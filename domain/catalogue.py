"""The brand's catalogue: services (项目) with list price, duration and category."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table, UniqueConstraint, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.cards import check_amount
from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError
from domain.tenancy import Actor, check_text

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


async def create_service(
    db: AsyncConnection, actor: Actor, *, name: str, price: int, duration_minutes: int, category: str
) -> int:
    name = check_text(name, "name", "项目名称", 40)
    category = check_text(category, "category", "分类", 20)
    check_amount(price, "price")
    if not 1 <= duration_minutes <= 24 * 60:
        raise DomainError("INVALID_VALUE", "durationMinutes", what="时长（1-1440分钟）")
    if await db.scalar(select(services.c.id).where(services.c.brand_id == actor.brand_id, services.c.name == name)):
        raise DomainError("DUPLICATE_NAME", "name", name=name)
    service_id = (
        await db.execute(
            insert(services)
            .values(brand_id=actor.brand_id, name=name, category=category, price=price, duration_minutes=duration_minutes)
            .returning(services.c.id)
        )
    ).scalar_one()
    await audit.record(db, actor, "service.create", "service", service_id, after={"name": name, "price": price, "category": category})
    return service_id


async def list_services(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(services).where(services.c.brand_id == brand_id).order_by(services.c.id)))
