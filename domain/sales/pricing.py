"""What an order line sells and what it costs at a store: the brand's list price or the store's own."""

from __future__ import annotations

import enum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.catalogue import retail_products, services
from domain.brands.stores import get_store
from domain.cards.count_card_products import count_card_products
from domain.db import Id, metadata
from domain.errors import DomainError
from domain.validation import check_amount


class ItemKind(enum.StrEnum):
    SERVICE = "SERVICE"
    PRODUCT = "PRODUCT"
    COUNT_CARD = "COUNT_CARD"
    # A deposit onto the member's stored-value card, sold at the desk within an order: not a sale.
    TOP_UP = "TOP_UP"


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
