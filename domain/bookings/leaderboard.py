"""The technicians' leaderboard (服务质量排名) over a period of local dates, per store or brand:
the Bayesian rating of the period's counted reviews, how many reviews and recommendations, how many
services performed (paid, not refunded), and the repeat rate: of the technician's customers served
in the period, the share who came back to the same technician within 90 days of their first visit
in it (a return after the period's end counts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor, Role
from domain.bookings.reviews import SERVED, ratings
from domain.brands.staff import staff
from domain.brands.stores import get_brand, get_store, store_timezone
from domain.errors import DomainError
from domain.sales.orders import order_lines, orders
from domain.sales.pricing import ItemKind
from domain.timezones import day_bounds

RETURN_WINDOW = dt.timedelta(days=90)
MAX_DAYS = 366


@dataclass(frozen=True)
class Standing:
    technician_id: int
    name: str
    rating: Decimal
    review_count: int
    recommendations: int
    services_count: int
    repeat_rate: Decimal


async def leaderboard(db: AsyncConnection, actor: Actor, *, store_id: int | None, start_day: dt.date, end_day: dt.date) -> list[Standing]:
    if end_day < start_day or (end_day - start_day).days >= MAX_DAYS:
        raise DomainError("DATE_RANGE_INVALID", "to")
    if store_id is not None:
        await get_store(db, actor, store_id, act=False)
        tz = await store_timezone(db, store_id, actor.brand_id)
    else:
        tz = (await get_brand(db, actor.brand_id)).timezone
    start, _ = day_bounds(start_day, tz)
    _, end = day_bounds(end_day, tz)
    stmt = select(staff.c.id, staff.c.name).where(staff.c.brand_id == actor.brand_id, staff.c.role == Role.TECHNICIAN.value).order_by(staff.c.id)
    if store_id is not None:
        stmt = stmt.where(staff.c.store_id == store_id)
    techs = list(await db.execute(stmt))
    ids = [t.id for t in techs]
    rated = await ratings(db, actor.brand_id, ids, start, end)
    visits = await _visits(db, ids, store_id, start, end + RETURN_WINDOW)
    board = []
    for t in techs:
        mine = visits.get(t.id, [])
        performed = sum(q for at, _, q in mine if start <= at < end)
        rating, count, recommended = rated[t.id]
        board.append(Standing(t.id, t.name, rating, count, recommended, performed, _repeat_rate(mine, start, end)))
    return sorted(board, key=lambda s: (-s.rating, -s.review_count, -s.services_count, s.technician_id))


async def _visits(db: AsyncConnection, technician_ids: list[int], store_id: int | None, start: dt.datetime, end: dt.datetime) -> dict[int, list]:
    """(paid at, member, services not refunded) of each technician's served lines in [start, end)."""
    stmt = (
        select(order_lines.c.technician_id, orders.c.paid_at, orders.c.member_id, order_lines.c.quantity - order_lines.c.refunded_quantity)
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(order_lines.c.technician_id.in_(technician_ids), order_lines.c.kind == ItemKind.SERVICE.value, orders.c.status.in_(SERVED),
               orders.c.paid_at >= start, orders.c.paid_at < end, order_lines.c.refunded_quantity < order_lines.c.quantity)
        .order_by(orders.c.paid_at)
    )
    if store_id is not None:
        stmt = stmt.where(orders.c.store_id == store_id)
    found: dict[int, list] = {}
    for tid, at, member, quantity in await db.execute(stmt):
        found.setdefault(tid, []).append((at, member, quantity))
    return found


def _repeat_rate(visits: list, start: dt.datetime, end: dt.datetime) -> Decimal:
    first: dict[int, dt.datetime] = {}
    returned: set[int] = set()
    for at, member, _ in visits:
        if member is None:
            continue
        if member not in first:
            if start <= at < end:
                first[member] = at
        elif first[member] < at <= first[member] + RETURN_WINDOW:
            returned.add(member)
    if not first:
        return Decimal("0.0000")
    return (Decimal(len(returned)) / Decimal(len(first))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
