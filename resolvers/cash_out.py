"""Cashing out cards (退卡): stored-value and count cards, once per idempotency key."""

from __future__ import annotations

from sqlalchemy import select

from domain import idempotency
from domain.brands.stores import get_store
from domain.cards import cash_out
from domain.cards.count_cards import count_cards
from domain.cards.stored_value import Tender, get_card
from domain.payments import card_holds as _payment_holds  # noqa: F401 - registers its cash-out check
from domain.sales import card_holds as _order_holds  # noqa: F401 - registers its cash-out check
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id


async def cash_out_card(ctx: Context, *, card_id: str, tender: Tender, reason: str, idempotency_key: str) -> Outcome:
    request = {"cardId": card_id, "tender": tender.value, "reason": reason}

    async def work(db, actor):
        async def run() -> dict:
            done = await cash_out.cash_out_card(
                db, actor, card_id=decode_id(card_id, "StoredValueCard", "cardId"), tender=tender, reason=reason,
                reference=idempotency.scoped_reference("cashout", idempotency.staff_sender(actor.staff_id), idempotency_key),
            )
            return {"paid_out": done.paid_out, "gift_forfeited": done.gift_forfeited}

        async def may_see() -> None:
            card = await get_card(db, actor, decode_id(card_id, "StoredValueCard", "cardId"))
            await get_store(db, actor, card.issued_store_id, field="cardId")

        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="cashOutCard",
            request=request, run=run, guard=may_see,
        )
        return {**done, "card_id": decode_id(card_id, "StoredValueCard", "cardId")}

    return await ctx.mutate("cashOutCard", work)


async def cash_out_count_card(ctx: Context, *, count_card_id: str, tender: Tender, reason: str, idempotency_key: str) -> Outcome:
    request = {"countCardId": count_card_id, "tender": tender.value, "reason": reason}

    def pk() -> int:
        return decode_id(count_card_id, "CountCard", "countCardId")

    async def work(db, actor):
        async def run() -> dict:
            done = await cash_out.cash_out_count_card(
                db, actor, count_card_id=pk(), tender=tender, reason=reason,
                reference=idempotency.scoped_reference("cashout", idempotency.staff_sender(actor.staff_id), idempotency_key),
            )
            return {"paid_out": done.paid_out, "value_left": done.value_left, "fee": done.fee}

        async def may_see() -> None:
            store_id = await db.scalar(select(count_cards.c.issued_store_id).where(count_cards.c.id == pk(), count_cards.c.brand_id == actor.brand_id))
            await get_store(db, actor, store_id or 0, field="countCardId")

        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="cashOutCountCard",
            request=request, run=run, guard=may_see,
        )
        card = (await db.execute(select(count_cards).where(count_cards.c.id == pk()))).one()
        return {**done, "count_card": card}

    return await ctx.mutate("cashOutCountCard", work)
