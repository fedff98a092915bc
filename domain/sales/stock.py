"""Retail stock (库存) per product and store: received, sold, refunded, adjusted, counted and moved
between stores, each a movement with the quantity after it, so `meiye ledger verify` can prove that
every level equals the sum of its movements.

A store keeps stock of a product from its first movement there (a delivery received, a count, a
transfer in). Before that the product is untracked at that store and sells without a level: a
salon that never counts its shelf is not stopped at the till. Once tracked, a sale that would take
the level below zero is refused (STOCK_INSUFFICIENT) unless the brand allows it; the check is the
UPDATE's own condition, so two desks selling the last bottle cannot both succeed.

A sale that takes a level from above its low-stock threshold to at or below it queues a
`stock.low` outbox event, once per product, store and business day, for the reminders to message."""

from __future__ import annotations

import enum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit, outbox
from domain.actor import Actor
from domain.brands.catalogue import retail_products
from domain.brands.operations import rules_of
from domain.brands.stores import get_store, store_timezone
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.ledger.verify import Check
from domain.timezones import business_day
from domain.validation import check_text

MAX_QUANTITY = 100_000
LOW_STOCK_EVENT = "stock.low"


class MovementKind(enum.StrEnum):
    RECEIVED = "RECEIVED"
    SALE = "SALE"
    REFUND = "REFUND"
    ADJUSTMENT = "ADJUSTMENT"
    COUNT = "COUNT"
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"


stock_levels = Table(
    "stock_levels",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("product_id", Id, ForeignKey("retail_products.id"), nullable=False),
    Column("quantity", Integer, nullable=False, default=0),
    # None: no warning for this product at this store.
    Column("low_stock_threshold", Integer, nullable=True),
    UniqueConstraint("store_id", "product_id"),
)

stock_movements = Table(
    "stock_movements",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("product_id", Id, ForeignKey("retail_products.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("quantity_after", Integer, nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=True),
    # the other store of a transfer
    Column("other_store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("note", String(200), nullable=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    created_at_column(),
    CheckConstraint("delta <> 0 OR kind = 'COUNT'", name="moves"),
    Index("ix_stock_movements_store_product", "store_id", "product_id", "id"),
)


def _check_quantity(quantity: int, field: str = "quantity", *, allow_zero: bool = False) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not (0 if allow_zero else 1) <= quantity <= MAX_QUANTITY:
        raise DomainError("INVALID_VALUE", field, what=f"数量（{0 if allow_zero else 1}-{MAX_QUANTITY}）")
    return quantity


async def _product(db: AsyncConnection, actor: Actor, product_id: int, field: str = "productId"):
    row = (await db.execute(select(retail_products).where(retail_products.c.id == product_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="商品")
    return row


async def _level(db: AsyncConnection, brand_id: int, store_id: int, product_id: int):
    """The level's row under its lock, made (at zero) if the store has never stocked the product."""
    await db.execute(insert_ignoring_conflicts(db, stock_levels).values(brand_id=brand_id, store_id=store_id, product_id=product_id, quantity=0))
    return (
        await db.execute(
            select(stock_levels).where(stock_levels.c.store_id == store_id, stock_levels.c.product_id == product_id).with_for_update()
        )
    ).one()


async def _move(db: AsyncConnection, actor: Actor, *, store_id: int, product_id: int, kind: MovementKind, delta: int,
                note: str | None = None, order_id: int | None = None, other_store_id: int | None = None,
                floor: int | None = None) -> int | None:
    """Change one level by `delta` and record the movement; the quantity after, or None when
    `floor` is given and the level would fall below it (nothing changed then)."""
    await _level(db, actor.brand_id, store_id, product_id)
    where = [stock_levels.c.store_id == store_id, stock_levels.c.product_id == product_id]
    if floor is not None:
        where.append(stock_levels.c.quantity + delta >= floor)
    after = (
        await db.execute(update(stock_levels).where(*where).values(quantity=stock_levels.c.quantity + delta).returning(stock_levels.c.quantity))
    ).scalar_one_or_none()
    if after is None:
        return None
    if delta or kind == MovementKind.COUNT:
        await db.execute(insert(stock_movements).values(
            brand_id=actor.brand_id, store_id=store_id, product_id=product_id, kind=kind.value, delta=delta, quantity_after=after,
            order_id=order_id, other_store_id=other_store_id, note=note, staff_id=actor.staff_id, created_at=utcnow(),
        ))
    return after


async def receive(db: AsyncConnection, actor: Actor, *, store_id: int, product_id: int, quantity: int, note: str | None) -> int:
    """入库: a delivery from the supplier; the quantity after."""
    await get_store(db, actor, store_id)
    await _product(db, actor, product_id)
    _check_quantity(quantity)
    note = check_text(note, "note", "备注", 200, required=False) or None
    after = await _move(db, actor, store_id=store_id, product_id=product_id, kind=MovementKind.RECEIVED, delta=quantity, note=note)
    await audit.record(db, actor, "stock.receive", "retail_product", product_id, after={"quantity": quantity, "after": after, "note": note}, store_id=store_id)
    return after


async def adjust(db: AsyncConnection, actor: Actor, *, store_id: int, product_id: int, delta: int, reason: str) -> int:
    """报损/调整: a change by `delta` (breakage, a tester opened) with a reason; never below zero."""
    await get_store(db, actor, store_id)
    await _product(db, actor, product_id)
    reason = check_text(reason, "reason", "调整原因", 200)
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > MAX_QUANTITY:
        raise DomainError("INVALID_VALUE", "delta", what=f"调整数量（非零，绝对值不超过{MAX_QUANTITY}）")
    level = await _level(db, actor.brand_id, store_id, product_id)
    after = await _move(db, actor, store_id=store_id, product_id=product_id, kind=MovementKind.ADJUSTMENT, delta=delta, note=reason, floor=0)
    if after is None:
        raise DomainError("STOCK_INSUFFICIENT", "delta", available=level.quantity)
    await audit.record(db, actor, "stock.adjust", "retail_product", product_id, before={"quantity": level.quantity},
                       after={"quantity": after, "reason": reason}, store_id=store_id)
    return after


async def count(db: AsyncConnection, actor: Actor, *, store_id: int, product_id: int, counted: int, reason: str) -> int:
    """盘点: the shelf was counted; the level becomes what was found, the difference a movement."""
    await get_store(db, actor, store_id)
    await _product(db, actor, product_id)
    _check_quantity(counted, "counted", allow_zero=True)
    reason = check_text(reason, "reason", "盘点说明", 200)
    level = await _level(db, actor.brand_id, store_id, product_id)
    after = await _move(db, actor, store_id=store_id, product_id=product_id, kind=MovementKind.COUNT, delta=counted - level.quantity, note=reason)
    await audit.record(db, actor, "stock.count", "retail_product", product_id, before={"quantity": level.quantity},
                       after={"quantity": after, "reason": reason}, store_id=store_id)
    return after


async def transfer(db: AsyncConnection, actor: Actor, *, from_store_id: int, to_store_id: int, product_id: int, quantity: int,
                   note: str | None) -> tuple[int, int]:
    """调拨: goods leave one store for another (the sender must have them); both quantities after."""
    await get_store(db, actor, from_store_id, field="fromStoreId")
    # The receiving store need only be the brand's: a manager sends from their own store.
    await get_store(db, actor, to_store_id, field="toStoreId", act=False)
    if from_store_id == to_store_id:
        raise DomainError("INVALID_VALUE", "toStoreId", what="调入门店（须与调出门店不同）")
    await _product(db, actor, product_id)
    _check_quantity(quantity)
    note = check_text(note, "note", "备注", 200, required=False) or None
    # Levels locked in store order, so two opposite transfers cannot deadlock.
    for store_id in sorted((from_store_id, to_store_id)):
        await _level(db, actor.brand_id, store_id, product_id)
    sent = await _move(db, actor, store_id=from_store_id, product_id=product_id, kind=MovementKind.TRANSFER_OUT, delta=-quantity,
                       note=note, other_store_id=to_store_id, floor=0)
    if sent is None:
        available = await db.scalar(select(stock_levels.c.quantity).where(stock_levels.c.store_id == from_store_id, stock_levels.c.product_id == product_id))
        raise DomainError("STOCK_INSUFFICIENT", "quantity", available=available)
    received = await _move(db, actor, store_id=to_store_id, product_id=product_id, kind=MovementKind.TRANSFER_IN, delta=quantity,
                           note=note, other_store_id=from_store_id)
    await audit.record(db, actor, "stock.transfer", "retail_product", product_id,
                       after={"from": from_store_id, "to": to_store_id, "quantity": quantity, "note": note}, store_id=from_store_id)
    return sent, received


async def set_low_threshold(db: AsyncConnection, actor: Actor, *, store_id: int, product_id: int, threshold: int | None) -> None:
    await get_store(db, actor, store_id)
    await _product(db, actor, product_id)
    if threshold is not None:
        _check_quantity(threshold, "threshold", allow_zero=True)
    level = await _level(db, actor.brand_id, store_id, product_id)
    await db.execute(update(stock_levels).where(stock_levels.c.id == level.id).values(low_stock_threshold=threshold))
    await audit.record(db, actor, "stock.threshold", "retail_product", product_id, before={"threshold": level.low_stock_threshold},
                       after={"threshold": threshold}, store_id=store_id)


async def take_for_sale(db: AsyncConnection, actor: Actor, order, lines) -> None:
    """Checkout's step: each product line sold takes its quantity off the store's tracked level, in
    the checkout's transaction (order lines: kind, item_id, quantity, id)."""
    wanted = _products_of(lines, lambda line: line.quantity)
    if not wanted:
        return
    allow_negative = (await rules_of(db, actor.brand_id)).allow_negative_stock
    tracked = await _tracked(db, order.store_id, list(wanted))
    for product_id, quantity in sorted(wanted.items()):
        if product_id not in tracked:
            continue
        after = await _move(db, actor, store_id=order.store_id, product_id=product_id, kind=MovementKind.SALE, delta=-quantity,
                            order_id=order.id, floor=None if allow_negative else 0)
        if after is None:
            left = await db.scalar(select(stock_levels.c.quantity).where(stock_levels.c.store_id == order.store_id, stock_levels.c.product_id == product_id))
            raise DomainError("STOCK_INSUFFICIENT", "orderId", available=left)
        await _warn_if_low(db, actor, order.store_id, product_id, before=after + quantity, after=after)


async def put_back_for_refund(db: AsyncConnection, actor: Actor, order, rows: dict, units_by_line: dict[int, int]) -> None:
    """The refund's step: product units refunded go back on the store's tracked level."""
    back = _products_of([rows[line_id] for line_id in units_by_line], lambda line: units_by_line[line.id])
    tracked = await _tracked(db, order.store_id, list(back))
    for product_id, quantity in sorted(back.items()):
        if product_id in tracked and quantity:
            await _move(db, actor, store_id=order.store_id, product_id=product_id, kind=MovementKind.REFUND, delta=quantity, order_id=order.id)


def _products_of(lines, units) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for line in lines:
        if line.kind == "PRODUCT":
            wanted[line.item_id] = wanted.get(line.item_id, 0) + units(line)
    return wanted


async def _tracked(db: AsyncConnection, store_id: int, product_ids: list[int]) -> dict[int, object]:
    if not product_ids:
        return {}
    return {r.product_id: r for r in await db.execute(
        select(stock_levels).where(stock_levels.c.store_id == store_id, stock_levels.c.product_id.in_(product_ids)))}


async def _warn_if_low(db: AsyncConnection, actor: Actor, store_id: int, product_id: int, *, before: int, after: int) -> None:
    threshold = await db.scalar(select(stock_levels.c.low_stock_threshold).where(stock_levels.c.store_id == store_id, stock_levels.c.product_id == product_id))
    if threshold is None or not (before > threshold >= after):
        return
    day, _ = business_day(utcnow(), await store_timezone(db, store_id, actor.brand_id))
    await outbox.emit(db, brand_id=actor.brand_id, kind=LOW_STOCK_EVENT, dedupe_key=f"stock.low:{store_id}:{product_id}:{day}",
                      payload={"store_id": store_id, "product_id": product_id, "quantity": after, "threshold": threshold}, store_id=store_id)


async def levels(db: AsyncConnection, actor: Actor, *, store_id: int, only_low: bool = False) -> list:
    """What a store keeps: (product_id, name, category, price, quantity, low_stock_threshold), by name."""
    await get_store(db, actor, store_id)
    stmt = (
        select(stock_levels.c.product_id, retail_products.c.name, retail_products.c.category, retail_products.c.price, stock_levels.c.quantity,
                   stock_levels.c.low_stock_threshold)
        .join(retail_products, retail_products.c.id == stock_levels.c.product_id)
        .where(stock_levels.c.store_id == store_id).order_by(retail_products.c.name, stock_levels.c.product_id)
    )
    if only_low:
        stmt = stmt.where(stock_levels.c.low_stock_threshold.is_not(None), stock_levels.c.quantity <= stock_levels.c.low_stock_threshold)
    return list(await db.execute(stmt))


async def level_of(db: AsyncConnection, brand_id: int, store_id: int, product_id: int):
    """One level as `levels` gives it, for a caller that has checked the store already."""
    return (
        await db.execute(
            select(stock_levels.c.product_id, retail_products.c.name, retail_products.c.category, retail_products.c.price, stock_levels.c.quantity,
                   stock_levels.c.low_stock_threshold)
            .join(retail_products, retail_products.c.id == stock_levels.c.product_id)
            .where(stock_levels.c.brand_id == brand_id, stock_levels.c.store_id == store_id, stock_levels.c.product_id == product_id)
        )
    ).first()


def is_low(row) -> bool:
    return row.low_stock_threshold is not None and row.quantity <= row.low_stock_threshold


async def verify(db: AsyncConnection) -> list[Check]:
    """Every level equals the sum of its movements, and each movement's quantity_after is the running sum."""
    sums = (
        select(stock_movements.c.store_id, stock_movements.c.product_id, func.sum(stock_movements.c.delta).label("total"))
        .group_by(stock_movements.c.store_id, stock_movements.c.product_id).subquery()
    )
    mismatched = list(await db.execute(
        select(stock_levels.c.store_id, stock_levels.c.product_id, stock_levels.c.quantity, func.coalesce(sums.c.total, 0))
        .select_from(stock_levels.outerjoin(sums, (sums.c.store_id == stock_levels.c.store_id) & (sums.c.product_id == stock_levels.c.product_id)))
        .where(stock_levels.c.quantity != func.coalesce(sums.c.total, 0))
    ))
    running = (
        select(stock_movements.c.id, stock_movements.c.quantity_after,
               func.sum(stock_movements.c.delta).over(partition_by=(stock_movements.c.store_id, stock_movements.c.product_id),
                                                      order_by=stock_movements.c.id).label("run"))
        .subquery()
    )
    broken = list(await db.execute(select(running.c.id, running.c.quantity_after, running.c.run).where(running.c.quantity_after != running.c.run)))
    return [
        Check("every stock level equals the sum of its movements", await db.scalar(select(func.count()).select_from(stock_levels)),
              [f"store {s} product {p}: quantity {q}, movements {t}" for s, p, q, t in mismatched]),
        Check("every stock movement's quantity_after is the running sum", await db.scalar(select(func.count()).select_from(stock_movements)),
              [f"stock movement {m}: after {a}, running sum {r}" for m, a, r in broken]),
    ]
