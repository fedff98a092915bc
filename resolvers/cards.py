"""The cards area: stored-value card products and cards (create, top up, freeze) and count-card products."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from domain import idempotency
from domain.brands.stores import get_store
from domain.cards import cash_out, cross_store
from domain.cards import count_card_products as card_catalogue
from domain.cards import reads as card_reads
from domain.cards import stored_value as cards
from domain.cards.count_cards import count_cards
from domain.cards.stored_value import Tender, TopUpRule, get_card
from domain.coupons import rules as coupon_rules
from domain.coupons import templates as coupon_templates
from domain.members.members import get_member
from domain.payments import card_holds as _payment_holds  # noqa: F401 - registers its cash-out check
from domain.sales import card_holds as _order_holds  # noqa: F401 - registers its cash-out check
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id, parse_global_id


async def create_product(ctx: Context, *, name: str, service_discount_percent: int, rules: list[tuple[int, int]],
                         accepted_store_ids: list[str] | None = None, cross_store_daily_limit: int | None = None) -> Outcome:
    async def work(db, actor):
        gifts = [await _gift_template(db, actor, rule[2], i) if len(rule) > 2 else None for i, rule in enumerate(rules)]
        product_id = await cards.create_product(
            db, actor, name=name, service_discount_percent=service_discount_percent,
            rules=[TopUpRule(rule[0], rule[1], gift) for rule, gift in zip(rules, gifts)],
        )
        await cross_store.set_rules(db, actor, product_id=product_id, cross_store_daily_limit=cross_store_daily_limit,
                                    accepted_store_ids=[decode_id(s, "Store", f"acceptedStoreIds.{i}") for i, s in enumerate(accepted_store_ids or [])])
        return await cards.get_product(db, actor, product_id)

    return await ctx.mutate("createStoredValueCardProduct", work)


async def _gift_template(db, actor, template_id: str | None, i: int) -> int | None:
    """A top-up rule's 首充礼 template: the brand's own (checked here, where both areas are known)."""
    if template_id is None:
        return None
    pk = decode_id(template_id, "CouponTemplate", f"topUpRules.{i}.couponTemplateId")
    await coupon_templates.get_template(db, actor.brand_id, pk, f"topUpRules.{i}.couponTemplateId")
    return pk


async def products(ctx: Context) -> list:
    return await ctx.query("storedValueCardProducts", lambda db, actor: card_reads.list_products(db, actor.brand_id))


@dataclass
class TopUpDone:
    card_id: int
    bonus: int
    amount: int
    transfer_id: int
    replayed: bool


async def top_up(
    ctx: Context,
    *,
    member_id: str,
    store_id: str,
    amount: int,
    tender: Tender,
    idempotency_key: str,
    card_product_id: str | None,
    card_id: str | None,
) -> Outcome[TopUpDone]:
    request = {
        "memberId": member_id, "storeId": store_id, "amount": amount, "tender": tender.value,
        "cardProductId": card_product_id, "cardId": card_id,
    }

    async def work(db, actor):
        done, replayed = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="topUp",
            request=request, run=lambda: top_up_now(db, actor), guard=lambda: may_top_up(db, actor),
        )
        return TopUpDone(**done, replayed=replayed)

    async def top_up_now(db, actor) -> dict:
        member_pk = decode_id(member_id, "Member", "memberId")
        card_pk = decode_id(card_id, "StoredValueCard", "cardId") if card_id else None
        product_pk = decode_id(card_product_id, "StoredValueCardProduct", "cardProductId") if card_product_id else None
        result = await cards.top_up(
            db, actor, member_id=member_pk, store_id=decode_id(store_id, "Store", "storeId"), amount=amount, tender=tender,
            reference=idempotency.scoped_reference("topup", idempotency.staff_sender(actor.staff_id), idempotency_key),
            card_id=card_pk, product_id=product_pk,
            before_recording=lambda product: coupon_rules.first_top_up_gift(db, actor, member_id=member_pk, product_id=product, amount=amount),
        )
        return {"card_id": result.card_id, "bonus": result.bonus, "amount": result.amount, "transfer_id": result.transfer_id}

    async def may_top_up(db, actor) -> None:
        # What top_up itself checks about who may act: the store, and a member of the brand.
        await get_store(db, actor, decode_id(store_id, "Store", "storeId"))
        await get_member(db, actor, decode_id(member_id, "Member", "memberId"))

    return await ctx.mutate("topUp", work)


async def set_frozen(ctx: Context, *, card_id: str, frozen: bool, reason: str | None) -> Outcome:
    async def work(db, actor):
        pk = decode_id(card_id, "StoredValueCard", "cardId")
        await cards.set_frozen(db, actor, card_id=pk, frozen=frozen, reason=reason)
        return pk

    return await ctx.mutate("freezeCard" if frozen else "unfreezeCard", work)


async def card(ctx: Context, *, card_id: str):
    actor = await ctx.authorize("storedValueCard")
    parsed = parse_global_id(card_id)
    if parsed is None or parsed[0] != "StoredValueCard":
        return None
    row = await ctx.loaders.card.load(parsed[1])
    return row if row is not None and row.brand_id == actor.brand_id else None


async def create_count_card_product(
    ctx: Context, *, name: str, service_ids: list[str], sessions: int | None, price: int, valid_days: int,
    daily_limit: int | None, weekly_limit: int | None, store_ids: list[str], requires_booking: bool = False,
) -> Outcome:
    async def work(db, actor):
        product_id = await card_catalogue.create_count_card_product(
            db, actor, name=name, service_ids=[decode_id(s, "Service", f"serviceIds.{i}") for i, s in enumerate(service_ids)],
            sessions=sessions, price=price, valid_days=valid_days, daily_limit=daily_limit, weekly_limit=weekly_limit, requires_booking=requires_booking,
            store_ids=[decode_id(s, "Store", f"storeIds.{i}") for i, s in enumerate(store_ids)],
        )
        return (await card_catalogue.count_card_products_by_ids(db, [product_id]))[product_id]

    return await ctx.mutate("createCountCardProduct", work)


async def count_card_products(ctx: Context, *, store_id: str | None) -> list:
    async def work(db, actor):
        store_pk = decode_id(store_id, "Store", "storeId") if store_id else None
        return await card_catalogue.list_count_card_products(db, actor.brand_id, store_pk)

    return await ctx.query("countCardProducts", work)


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
