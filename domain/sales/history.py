"""Order history (收银流水): a store's or the brand's orders, newest first, filtered by member,
status and business days, in cursor pages; and a customer's own orders. The lines, payments and
refunds of a page are read in batches by the caller (resolvers/loaders.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import BRAND_WIDE_ROLES, Actor
from domain.brands.stores import get_brand, get_store, store_timezone
from domain.errors import DomainError
from domain.members.members import get_member
from domain.pagination import decode_cursor, page_size
from domain.sales.orders import OrderStatus, orders
from domain.sales.refunds import refund_payments, refunds
from domain.timezones import check_day, day_bounds


async def page(
    db: AsyncConnection, actor: Actor, *, store_id: int | None, member_id: int | None, status: OrderStatus | None,
    day_from: dt.date | None, day_to: dt.date | None, first: int | None, after: str | None,
) -> tuple[list, bool]:
    """Store-bound staff see their own store's orders (another store is STORE_FORBIDDEN); the
    brand-wide roles every store's, or one store's. Days are business days of the store asked
    for (the brand's time zone across stores), on when the order was opened."""
    limit, before_id = page_size(first), decode_cursor(after)
    if store_id is None and actor.role not in BRAND_WIDE_ROLES:
        store_id = actor.store_id
    if store_id is not None:
        await get_store(db, actor, store_id)
    if member_id is not None:
        await get_member(db, actor, member_id)
    stmt = select(orders).where(orders.c.brand_id == actor.brand_id)
    if store_id is not None:
        stmt = stmt.where(orders.c.store_id == store_id)
    if member_id is not None:
        stmt = stmt.where(orders.c.member_id == member_id)
    if status is not None:
        stmt = stmt.where(orders.c.status == status.value)
    if day_from is not None or day_to is not None:
        tz = await store_timezone(db, store_id, actor.brand_id) if store_id is not None else (await get_brand(db, actor.brand_id)).timezone
        if day_from is not None:
            check_day(day_from, "from")
            stmt = stmt.where(orders.c.created_at >= day_bounds(day_from, tz)[0])
        if day_to is not None:
            check_day(day_to, "to")
            stmt = stmt.where(orders.c.created_at < day_bounds(day_to, tz)[1])
        if day_from is not None and day_to is not None and day_from > day_to:
            raise DomainError("DATE_RANGE_INVALID", "from")
    return await _page(db, stmt, limit, before_id)


async def member_page(db: AsyncConnection, *, member_id: int, first: int | None, after: str | None) -> tuple[list, bool]:
    """A customer's own orders, newest first: what they bought and paid for, not what the desk
    has opened for them and not yet settled."""
    limit, before_id = page_size(first), decode_cursor(after)
    stmt = select(orders).where(orders.c.member_id == member_id, orders.c.status.in_(
        [OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value, OrderStatus.REFUNDED.value]))
    return await _page(db, stmt, limit, before_id)


async def _page(db: AsyncConnection, stmt, limit: int, before_id: int | None) -> tuple[list, bool]:
    if before_id is not None:
        stmt = stmt.where(orders.c.id < before_id)
    rows = list(await db.execute(stmt.order_by(orders.c.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


async def refunds_by_order_ids(db: AsyncConnection, ids: list[int]) -> dict[int, list]:
    """Each order's refunds, oldest first, each with its payments (`refund.payments`)."""
    found: dict[int, list] = {i: [] for i in ids}
    rows = list(await db.execute(select(refunds).where(refunds.c.order_id.in_(ids)).order_by(refunds.c.id)))
    paid: dict[int, list] = {r.id: [] for r in rows}
    if rows:
        for p in await db.execute(select(refund_payments).where(refund_payments.c.refund_id.in_(list(paid))).order_by(refund_payments.c.id)):
            paid[p.refund_id].append(p)
    for r in rows:
        found[r.order_id].append((r, paid[r.id]))
    return found
