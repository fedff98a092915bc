"""couponCheck (扫码核销前): what a coupon would take off an open order, or every reason it does not
apply. Reads only; checkout decides again, under its locks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor
from domain.coupons import pricing, redemption
from domain.db import utcnow
from domain.errors import DomainError
from domain.sales.orders import OrderStatus, _load_order, order_lines


async def coupon_check(db: AsyncConnection, actor: Actor, *, order_id: int, code: str, other_codes: list[str]) -> redemption.Candidate:
    """`code` on the order after `other_codes` (the coupons already scanned for it)."""
    order = await _load_order(db, actor, order_id)
    if order.status not in (OrderStatus.OPEN.value, OrderStatus.HELD.value):
        raise DomainError("ORDER_NOT_OPEN", "orderId")
    rows = await db.execute(select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.id))
    lines = [pricing.Line(r.id, r.kind, r.item_id, r.unit_price, r.quantity) for r in rows]
    context = redemption.OrderContext(actor.brand_id, order.id, order.store_id, order.member_id)
    return (await redemption.evaluate(db, context, lines, [*other_codes, code], utcnow()))[-1]
