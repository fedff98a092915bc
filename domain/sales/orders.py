"""Orders at the desk: open with lines, add/remove lines, hold (挂单) and resume (取单), cancel.
A held order reserves nothing; checkout (domain.checkout) validates everything at once."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
    bindparam,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.staff import staff
from domain.brands.stores import get_store
from domain.cards.stored_value import get_product
from domain.db import Id, UtcDateTime, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.prepared import with_list
from domain.members.members import get_member
from domain.sales.pricing import ITEM_WHAT, ItemKind, price_items
from domain.validation import check_amount, check_text

MAX_LINES = 50


MAX_QUANTITY = 99


class OrderStatus(enum.StrEnum):
    OPEN = "OPEN"
    HELD = "HELD"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    CANCELLED = "CANCELLED"


orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("status", String(20), nullable=False),
    Column("note", String(200), nullable=True),
    Column("list_total", Id, nullable=False, default=0),
    Column("discount", Id, nullable=False, default=0),
    Column("total", Id, nullable=False, default=0),
    Column("paid", Id, nullable=False, default=0),
    Column("refunded", Id, nullable=False, default=0),
    Column("points_earned", Id, nullable=False, default=0),
    # None when a customer bought online.
    Column("opened_by", Id, ForeignKey("staff.id"), nullable=True),
    Column("paid_at", UtcDateTime(), nullable=True),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    Column("version", Integer, nullable=False, default=0),
    # The booking whose check-in opened this order (one order per booking; bookings sit above sales).
    Column("booking_id", Id, nullable=True, unique=True),
    created_at_column(),
    Index("ix_orders_store_id_status", "store_id", "status"),
    # A member's visits in time: segments, RFM and the referral's first order read them.
    Index("ix_orders_member_id_paid_at", "member_id", "paid_at"),
)


order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("item_id", Id, nullable=False),
    Column("name", String(40), nullable=False),
    Column("category", String(20), nullable=False),
    Column("unit_price", Id, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=True),
    # Filled at checkout: list amount, discount, what count cards covered (units and value), net.
    Column("list_amount", Id, nullable=False, default=0),
    Column("discount", Id, nullable=False, default=0),
    Column("covered_units", Integer, nullable=False, default=0),
    Column("net_amount", Id, nullable=False, default=0),
    Column("refunded_quantity", Integer, nullable=False, default=0),
    Column("refunded_amount", Id, nullable=False, default=0),
    created_at_column(),
    CheckConstraint("quantity > 0 AND refunded_quantity <= quantity", name="quantity"),
)


@dataclass(frozen=True)
class LineSpec:
    kind: ItemKind | None
    item_id: int | None
    quantity: int
    technician_id: int | None = None
    amount: int | None = None  # TOP_UP lines: how much goes onto the card
    # A price agreed elsewhere (a mini-program payment made at the price of its time); never from the API.
    agreed_price: int | None = None


async def _load_order(db: AsyncConnection, actor: Actor, order_id: int, field: str = "orderId"):
    row = (await db.execute(select(orders).where(orders.c.id == order_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="订单")
    if not actor.can_act_for_store(row.store_id):
        raise DomainError("STORE_FORBIDDEN", field)
    return row


async def _insert_lines(db: AsyncConnection, actor: Actor, order_id: int, store_id: int, member_id: int | None, lines: list[LineSpec], first_index: int = 0) -> None:
    if not lines:
        raise DomainError("ORDER_EMPTY", "lines")
    if first_index + len(lines) > MAX_LINES:
        raise DomainError("TOO_MANY", "lines", what="订单行", max=MAX_LINES)
    for i, line in enumerate(lines):
        if line.kind is None or line.item_id is None:
            raise DomainError("LINE_REQUIRED", f"lines.{i}")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise DomainError("INVALID_VALUE", f"lines.{i}.quantity", what=f"数量（1-{MAX_QUANTITY}）")
        if line.kind in (ItemKind.COUNT_CARD, ItemKind.TOP_UP) and member_id is None:
            raise DomainError("MEMBER_REQUIRED", f"lines.{i}.{_field(line.kind)}")
        if line.kind == ItemKind.TOP_UP:
            if line.quantity != 1:
                raise DomainError("INVALID_VALUE", f"lines.{i}.quantity", what="充值数量（只能为1）")
            check_amount(line.amount, f"lines.{i}.amount")
    priced = await price_items(db, actor.brand_id, store_id, [(l.kind, l.item_id) for l in lines if l.kind != ItemKind.TOP_UP])
    for i, line in enumerate(lines):
        if line.kind == ItemKind.TOP_UP:
            product = await get_product(db, actor, line.item_id, f"lines.{i}.topUpCardProductId")
            priced[(line.kind, line.item_id, i)] = (_Deposit(f"充值·{product.name}", "充值"), line.amount)
    technicians = {l.technician_id for l in lines if l.technician_id is not None}
    if technicians:
        found = set((await db.execute(select(staff.c.id).where(staff.c.brand_id == actor.brand_id, staff.c.id.in_(technicians)))).scalars())
    rows = []
    for i, line in enumerate(lines):
        key = (line.kind, line.item_id, i) if line.kind == ItemKind.TOP_UP else (line.kind, line.item_id)
        if key not in priced:
            raise DomainError("NOT_FOUND", f"lines.{i}.{_field(line.kind)}", what=ITEM_WHAT[line.kind])
        if line.technician_id is not None and line.technician_id not in found:
            raise DomainError("NOT_FOUND", f"lines.{i}.technicianId", what="技师")
        item, price = priced[key]
        if line.agreed_price is not None:
            price = line.agreed_price
        category = item.category if line.kind != ItemKind.COUNT_CARD else "次卡"
        rows.append(
            {
                "order_id": order_id, "kind": line.kind.value, "item_id": line.item_id, "name": item.name, "category": category,
                "unit_price": price, "quantity": line.quantity, "technician_id": line.technician_id,
                "list_amount": price * line.quantity, "discount": 0, "covered_units": 0, "net_amount": price * line.quantity,
                "refunded_quantity": 0, "refunded_amount": 0, "created_at": utcnow(),
            }
        )
    await db.execute(insert(order_lines), rows)
    await _retotal(db, order_id)


@dataclass(frozen=True)
class _Deposit:
    name: str
    category: str


def _field(kind: ItemKind) -> str:
    return {ItemKind.SERVICE: "serviceId", ItemKind.PRODUCT: "productId", ItemKind.COUNT_CARD: "countCardProductId",
            ItemKind.TOP_UP: "topUpCardProductId"}[kind]


async def _retotal(db: AsyncConnection, order_id: int) -> None:
    total = await db.scalar(select(func.coalesce(func.sum(order_lines.c.list_amount), 0)).where(order_lines.c.order_id == order_id))
    await db.execute(update(orders).where(orders.c.id == order_id).values(list_total=total, total=total))


async def open_order(db: AsyncConnection, actor: Actor, *, store_id: int, member_id: int | None, lines: list[LineSpec], note: str | None) -> int:
    await get_store(db, actor, store_id)
    if member_id is not None:
        await get_member(db, actor, member_id)
    note = check_text(note, "note", "备注", 200, required=False) or None
    order_id = (
        await db.execute(
            insert(orders)
            .values(brand_id=actor.brand_id, store_id=store_id, member_id=member_id, status=OrderStatus.OPEN.value, note=note,
                    opened_by=actor.staff_id, version=0, created_at=utcnow())
            .returning(orders.c.id)
        )
    ).scalar_one()
    await _insert_lines(db, actor, order_id, store_id, member_id, lines)
    return order_id


async def add_lines(db: AsyncConnection, actor: Actor, *, order_id: int, lines: list[LineSpec]) -> None:
    order = await _load_order(db, actor, order_id)
    _require_open(order)
    count = await db.scalar(select(func.count()).select_from(order_lines).where(order_lines.c.order_id == order_id))
    await _insert_lines(db, actor, order_id, order.store_id, order.member_id, lines, first_index=count)


async def remove_line(db: AsyncConnection, actor: Actor, *, order_id: int, line_id: int) -> None:
    order = await _load_order(db, actor, order_id)
    _require_open(order)
    removed = await db.execute(delete(order_lines).where(order_lines.c.id == line_id, order_lines.c.order_id == order_id))
    if removed.rowcount != 1:
        raise DomainError("NOT_FOUND", "lineId", what="订单行")
    await _retotal(db, order_id)


async def set_member(db: AsyncConnection, actor: Actor, *, order_id: int, member_id: int | None) -> None:
    order = await _load_order(db, actor, order_id)
    _require_open(order)
    if member_id is not None:
        await get_member(db, actor, member_id)
    await db.execute(update(orders).where(orders.c.id == order_id).values(member_id=member_id))


def _require_open(order) -> None:
    if order.status == OrderStatus.HELD:
        raise DomainError("ORDER_HELD", "orderId")
    if order.status != OrderStatus.OPEN:
        raise DomainError("ORDER_NOT_OPEN", "orderId")


async def _move(db: AsyncConnection, actor: Actor, order_id: int, from_: OrderStatus, to: OrderStatus, code: str) -> None:
    await _load_order(db, actor, order_id)
    moved = await db.execute(
        update(orders).where(orders.c.id == order_id, orders.c.status == from_.value).values(status=to.value, version=orders.c.version + 1)
    )
    if moved.rowcount != 1:
        raise DomainError(code, "orderId")


async def hold(db: AsyncConnection, actor: Actor, *, order_id: int) -> None:
    await _move(db, actor, order_id, OrderStatus.OPEN, OrderStatus.HELD, "ORDER_NOT_OPEN")


async def resume(db: AsyncConnection, actor: Actor, *, order_id: int) -> None:
    await _move(db, actor, order_id, OrderStatus.HELD, OrderStatus.OPEN, "ORDER_NOT_HELD")


async def cancel(db: AsyncConnection, actor: Actor, *, order_id: int) -> None:
    order = await _load_order(db, actor, order_id)
    moved = await db.execute(
        update(orders).where(orders.c.id == order_id, orders.c.status.in_([OrderStatus.OPEN.value, OrderStatus.HELD.value]))
        .values(status=OrderStatus.CANCELLED.value, version=orders.c.version + 1)
    )
    if moved.rowcount != 1:
        raise DomainError("ORDER_NOT_OPEN", "orderId")
    await audit.record(db, actor, "order.cancel", "order", order_id, before={"status": order.status}, after={"status": "CANCELLED"}, store_id=order.store_id)


_take_order = with_list(lambda is_in: (
    update(orders)
    .where(orders.c.id == bindparam("take_order"), orders.c.brand_id == bindparam("take_brand"), is_in(orders.c.status, "statuses"))
    .values(version=orders.c.version + 1).returning(orders)
))


async def take_order(db: AsyncConnection, actor: Actor, order_id: int, statuses: list[OrderStatus], *, refusal) -> object:
    """The order, taken for this transaction (its row locked by a version bump) if it is in one of
    `statuses`; else NOT_FOUND, STORE_FORBIDDEN (another store's order says nothing of its state),
    or `refusal(status)`."""
    order = (
        await _take_order.execute(db, {"take_order": order_id, "take_brand": actor.brand_id, "statuses": [s.value for s in statuses]})
    ).first()
    if order is None:
        existing = (await db.execute(select(orders.c.status, orders.c.store_id).where(orders.c.id == order_id, orders.c.brand_id == actor.brand_id))).first()
        if existing is None:
            raise DomainError("NOT_FOUND", "orderId", what="订单")
        if not actor.can_act_for_store(existing.store_id):
            raise DomainError("STORE_FORBIDDEN", "orderId")
        raise DomainError(refusal(existing.status), "orderId")
    if not actor.can_act_for_store(order.store_id):
        raise DomainError("STORE_FORBIDDEN", "orderId")
    return order


async def held_orders(db: AsyncConnection, actor: Actor, *, store_id: int) -> list:
    await get_store(db, actor, store_id)
    return list(await db.execute(select(orders).where(orders.c.store_id == store_id, orders.c.status == OrderStatus.HELD.value).order_by(orders.c.id)))


async def get_order(db: AsyncConnection, actor: Actor, order_id: int):
    return await _load_order(db, actor, order_id)


async def lines_by_order_ids(db: AsyncConnection, ids: list[int]) -> dict[int, list]:
    found: dict[int, list] = {i: [] for i in ids}
    for row in await db.execute(select(order_lines).where(order_lines.c.order_id.in_(ids)).order_by(order_lines.c.id)):
        found[row.order_id].append(row)
    return found


async def orders_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(orders).where(orders.c.id.in_(ids)))}
