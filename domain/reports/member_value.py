"""A member's value to the brand (会员价值): lifetime spend net of refunds, visits (paid orders),
average ticket and last visit; read for a page of members at once.

Spend is what the member's orders came to, card-paid services included, less the sessions their
count cards covered: the card's price already counted when it was bought."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.sales.checkout import order_payments
from domain.sales.orders import OrderStatus, orders

PAID = [OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value, OrderStatus.REFUNDED.value]


@dataclass(frozen=True)
class MemberValue:
    member_id: int
    lifetime_spend: int
    visits: int
    average_ticket: int
    last_visit: dt.datetime | None


async def member_values(db: AsyncConnection, brand_id: int, member_ids: list[int]) -> dict[int, MemberValue]:
    o = orders.c
    rows = await db.execute(
        select(o.member_id, func.sum(o.total - o.refunded), func.count(), func.max(o.paid_at))
        .where(o.brand_id == brand_id, o.member_id.in_(member_ids), o.status.in_(PAID)).group_by(o.member_id)
    )
    p = order_payments.c
    covered = dict((await db.execute(
        select(o.member_id, func.sum(p.amount - p.refunded_amount)).select_from(orders.join(order_payments, p.order_id == o.id))
        .where(o.brand_id == brand_id, o.member_id.in_(member_ids), o.status.in_(PAID), p.method == "COUNT_CARD").group_by(o.member_id)
    )).all())
    found = {m: MemberValue(m, 0, 0, 0, None) for m in member_ids}
    for member_id, spend, visits, last in rows:
        spend = int(spend or 0) - int(covered.get(member_id) or 0)
        found[member_id] = MemberValue(member_id, spend, visits, (spend + visits // 2) // visits if visits else 0, last)
    return found
