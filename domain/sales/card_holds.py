"""A card that an open or held order tops up cannot be cashed out until the order is paid or
cancelled (domain.cards.cash_out.BLOCKERS). Imported for its registration."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.cards.cash_out import BLOCKERS
from domain.sales.orders import OrderStatus, order_lines, orders
from domain.sales.pricing import ItemKind


async def open_order_tops_it_up(db: AsyncConnection, card) -> str | None:
    named = await db.scalar(
        select(orders.c.id).join(order_lines, order_lines.c.order_id == orders.c.id).where(
            orders.c.member_id == card.member_id, orders.c.status.in_([OrderStatus.OPEN.value, OrderStatus.HELD.value]),
            order_lines.c.kind == ItemKind.TOP_UP.value, order_lines.c.item_id == card.product_id,
        ).limit(1)
    )
    return "CARD_ORDER_OPEN" if named is not None else None


if open_order_tops_it_up not in BLOCKERS:
    BLOCKERS.append(open_order_tops_it_up)
