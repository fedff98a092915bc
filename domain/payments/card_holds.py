"""A card with a mini-program top-up still pending cannot be cashed out: the payment could land on
a closed card (domain.cards.cash_out.BLOCKERS). Imported for its registration."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.cards.cash_out import BLOCKERS
from domain.payments.records import IntentStatus, Purpose, payment_intents


async def pending_top_up(db: AsyncConnection, card) -> str | None:
    pending = await db.scalar(
        select(payment_intents.c.id).where(
            payment_intents.c.member_id == card.member_id, payment_intents.c.purpose == Purpose.TOP_UP.value,
            payment_intents.c.item_id == card.product_id, payment_intents.c.status == IntentStatus.PENDING.value,
        ).limit(1)
    )
    return "CARD_PAYMENT_PENDING" if pending is not None else None


if pending_top_up not in BLOCKERS:
    BLOCKERS.append(pending_top_up)
