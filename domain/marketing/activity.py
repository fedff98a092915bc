"""What members did, read from the orders: paid visits and spend, the facts segments, RFM and
campaign attribution are computed from.

- A paid visit is a checked-out order of the member that is not wholly refunded (PAID or
  PARTIALLY_REFUNDED), at the time it was paid.
- An order's spend is what its tenders took, except count-card sessions (paid for when the card was
  bought), less what went onto stored-value cards as top-ups (a deposit, not a purchase), net of
  what was refunded of each. It is the same spend `members.total_spent` adds up for the tier rules;
  `verify` checks that the two agree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ledger.verify import Check
from domain.members.members import members
from domain.sales.checkout import Method, order_payments
from domain.sales.orders import OrderStatus, order_lines, orders
from domain.sales.pricing import ItemKind

VISIT_STATUSES = (OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value)


def order_spend():
    """A subquery: (order_id, spend) for every order that took a tender."""
    tendered = (
        select(order_payments.c.order_id, func.sum(order_payments.c.amount - order_payments.c.refunded_amount).label("paid"))
        .where(order_payments.c.method != Method.COUNT_CARD.value).group_by(order_payments.c.order_id).subquery()
    )
    deposited = (
        select(order_lines.c.order_id, func.sum(order_lines.c.net_amount - order_lines.c.refunded_amount).label("deposited"))
        .where(order_lines.c.kind == ItemKind.TOP_UP.value).group_by(order_lines.c.order_id).subquery()
    )
    return (
        select(tendered.c.order_id, (tendered.c.paid - func.coalesce(deposited.c.deposited, 0)).label("spend"))
        .select_from(tendered.outerjoin(deposited, deposited.c.order_id == tendered.c.order_id))
        .subquery()
    )


def is_visit():
    return orders.c.status.in_(VISIT_STATUSES)


async def member_activity(db: AsyncConnection, brand_id: int, since: dt.datetime) -> dict[int, tuple]:
    """Each member of the brand who ever paid: (last paid visit, paid visits since `since`, spend
    of the orders paid since `since`), in one statement."""
    spend = order_spend()
    recent = orders.c.paid_at >= since
    rows = await db.execute(
        select(
            orders.c.member_id,
            func.max(orders.c.paid_at).filter(is_visit()).label("last_visit"),
            func.count(orders.c.id).filter(is_visit(), recent).label("visits"),
            func.coalesce(func.sum(spend.c.spend).filter(recent), 0).label("spend"),
        )
        .select_from(orders.outerjoin(spend, spend.c.order_id == orders.c.id))
        .where(orders.c.brand_id == brand_id, orders.c.member_id.is_not(None), orders.c.paid_at.is_not(None))
        .group_by(orders.c.member_id)
    )
    return {r.member_id: (r.last_visit, r.visits, r.spend) for r in rows}


async def verify(db: AsyncConnection) -> list[Check]:
    """Every member's running total_spent equals the spend of their orders, net of refunds."""
    spend = order_spend()
    per_member = (
        select(orders.c.member_id, func.sum(spend.c.spend).label("spent"))
        .select_from(orders.join(spend, spend.c.order_id == orders.c.id))
        .where(orders.c.member_id.is_not(None), orders.c.paid_at.is_not(None))
        .group_by(orders.c.member_id).subquery()
    )
    wrong = list(await db.execute(
        select(members.c.id, members.c.total_spent, func.coalesce(per_member.c.spent, 0))
        .select_from(members.outerjoin(per_member, per_member.c.member_id == members.c.id))
        .where(members.c.total_spent != func.coalesce(per_member.c.spent, 0))
    ))
    count = await db.scalar(select(func.count()).select_from(members))
    return [Check("every member's total spent equals the spend of their orders, net of refunds", count,
                  [f"member {m}: total_spent {t}, orders {s}" for m, t, s in wrong])]
