"""A member's visits from their orders (the profile's 到店记录): when they last came, how often,
which services they take most and which technician serves them most. A visit is a paid order not
wholly refunded; a service counts by the units kept (not refunded). Batched over many members,
so a page of members costs three statements, not three per member."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.sales.orders import OrderStatus, order_lines, orders
from domain.sales.pricing import ItemKind

FAVOURITES = 3
VISITED = (OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value)


@dataclass(frozen=True)
class VisitSummary:
    last_visit_at: dt.datetime | None = None
    visits: int = 0
    favourite_service_ids: tuple[int, ...] = ()
    favourite_technician_id: int | None = None


async def summaries_by_member_ids(db: AsyncConnection, ids: list[int]) -> dict[int, VisitSummary]:
    visited = (orders.c.member_id.in_(ids), orders.c.status.in_(VISITED))
    counts = {m: (n, last) for m, n, last in await db.execute(
        select(orders.c.member_id, func.count(), func.max(orders.c.paid_at)).where(*visited).group_by(orders.c.member_id))}
    kept = func.sum(order_lines.c.quantity - order_lines.c.refunded_quantity)
    services: dict[int, list[tuple[int, int]]] = {}
    for member_id, service_id, units in await db.execute(
        select(orders.c.member_id, order_lines.c.item_id, kept).join(orders, orders.c.id == order_lines.c.order_id)
        .where(*visited, order_lines.c.kind == ItemKind.SERVICE.value).group_by(orders.c.member_id, order_lines.c.item_id)
    ):
        if units > 0:
            services.setdefault(member_id, []).append((units, service_id))
    technicians: dict[int, list[tuple[int, int]]] = {}
    for member_id, technician_id, units in await db.execute(
        select(orders.c.member_id, order_lines.c.technician_id, kept).join(orders, orders.c.id == order_lines.c.order_id)
        .where(*visited, order_lines.c.kind == ItemKind.SERVICE.value, order_lines.c.technician_id.is_not(None))
        .group_by(orders.c.member_id, order_lines.c.technician_id)
    ):
        if units > 0:
            technicians.setdefault(member_id, []).append((units, technician_id))
    found = {}
    for member_id in ids:
        n, last = counts.get(member_id, (0, None))
        # Most units first; the lower id (the older service or hire) breaks a tie, so the answer is stable.
        top = sorted(services.get(member_id, []), key=lambda t: (-t[0], t[1]))[:FAVOURITES]
        tech = sorted(technicians.get(member_id, []), key=lambda t: (-t[0], t[1]))
        found[member_id] = VisitSummary(last, n, tuple(s for _, s in top), tech[0][1] if tech else None)
    return found
