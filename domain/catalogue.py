"""The brand's catalogue: services (项目), retail products (零售), count-card products (次卡),
with brand prices optionally overridden per store."""

from __future__ import annotations

import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.cards import check_amount
from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError
from domain.tenancy import Actor, check_text, get_store


class ItemKind(enum.StrEnum):
    SERVICE = "SERVICE"
    PRODUCT = "PRODUCT"
    COUNT_CARD = "COUNT_CARD"
    # A deposit onto the member's stored-value card, sold at the desk within an order: not a sale.
    TOP_UP = "TOP_UP"


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

store_prices = Table(
    "store_prices",
    metadata,
    Column("id", Id, primary_key=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("item_kind", String(20), nullable=False),
    Column("item_id", Id, nullable=False),
    Column("price", Id, nullable=False),
    UniqueConstraint("store_id", "item_kind", "item_id"),
    CheckConstraint("price > 0", name="positive"),
)

ITEM_TABLES = {ItemKind.SERVICE: services, ItemKind.PRODUCT: retail_products, ItemKind.COUNT_CARD: count_card_products}
ITEM_WHAT = {ItemKind.SERVICE: "项目", ItemKind.PRODUCT: "商品", ItemKind.COUNT_CARD: "次卡", ItemKind.TOP_UP: "卡种"}


async def _unique_name(db: AsyncConnection, table: Table, brand_id: int, name: str) -> None:
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
    await _unique_name(db, services, actor.brand_id, name)
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
    await _unique_name(db, retail_products, actor.brand_id, name)
    product_id = (
        await db.execute(
            insert(retail_products).values(brand_id=actor.brand_id, name=name, category=category, price=price).returning(retail_products.c.id)
        )
    ).scalar_one()
    await audit.record(db, actor, "product.create", "retail_product", product_id, after={"name": name, "price": price})
    return product_id


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
    await _unique_name(db, count_card_products, actor.brand_id, name)
    product_id = (
        await db.execute(
            insert(count_card_products)
            .values(brand_id=actor.brand_id, name=name, sessions=sessions, price=price, valid_days=valid_days,
                    daily_limit=daily_limit, weekly_limit=weekly_limit)
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


async def set_store_price(db: AsyncConnection, actor: Actor, *, store_id: int, kind: ItemKind, item_id: int, price: int | None) -> None:
    """A store's own price for an item; None goes back to the brand's price."""
    await get_store(db, actor, store_id)
    table = ITEM_TABLES[kind]
    item = (await db.execute(select(table.c.id, table.c.brand_id, table.c.price).where(table.c.id == item_id))).first()
    if item is None or item.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", "itemId", what=ITEM_WHAT[kind])
    where = (store_prices.c.store_id == store_id, store_prices.c.item_kind == kind.value, store_prices.c.item_id == item_id)
    await db.execute(delete(store_prices).where(*where))
    if price is not None:
        check_amount(price, "price")
        await db.execute(insert(store_prices).values(store_id=store_id, item_kind=kind.value, item_id=item_id, price=price))
    await audit.record(db, actor, "price.set", kind.value.lower(), item_id, after={"store_id": store_id, "price": price}, store_id=store_id)


async def price_items(db: AsyncConnection, brand_id: int, store_id: int, wanted: list[tuple[ItemKind, int]]) -> dict:
    """(kind, id) -> the item row and its price at this store, for the brand's own items only."""
    found: dict = {}
    for kind in ITEM_TABLES:
        ids = [i for k, i in wanted if k == kind]
        if not ids:
            continue
        table = ITEM_TABLES[kind]
        rows = await db.execute(select(table).where(table.c.brand_id == brand_id, table.c.id.in_(ids)))
        for row in rows:
            found[(kind, row.id)] = [row, row.price]
    overrides = await db.execute(select(store_prices).where(store_prices.c.store_id == store_id))
    for o in overrides:
        key = (ItemKind(o.item_kind), o.item_id)
        if key in found:
            found[key][1] = o.price
    return {k: tuple(v) for k, v in found.items()}


async def list_services(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(services).where(services.c.brand_id == brand_id).order_by(services.c.id)))


async def list_retail_products(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(retail_products).where(retail_products.c.brand_id == brand_id).order_by(retail_products.c.id)))


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


async def services_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(services).where(services.c.id.in_(ids)))}


async def count_card_products_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(count_card_products).where(count_card_products.c.id.in_(ids)))}
