"""Payment intents for WeChat Pay and Alipay, and the exactly-once application of what the
platforms report (callbacks, active queries, bills), through the same services a desk uses.

Pattern (payments.md): in one transaction, insert the event keyed by (channel, event id) under a
unique constraint, then move the intent `… WHERE status IN ('PENDING', 'CLOSED')`, then apply the
business effect. A duplicate, concurrent or late copy finds the event or the status taken and
changes nothing."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import (
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.brands.stores import brands, get_store
from domain.cards import stored_value as cards
from domain.coupons import rules as coupon_rules
from domain.db import (
    insert_ignoring_conflicts,
    utcnow,
)
from domain.errors import DomainError
from domain.members.customers import Channel, Customer, system_actor
from domain.payments import refunds as platform_refunds
from domain.payments.records import (  # noqa: F401 - read from here too
    IntentStatus,
    Purpose,
    payment_events,
    payment_intents,
)
from domain.payments.types import EventKind, PaymentNotification, TradeState
from domain.sales import checkout, orders
from domain.sales.pricing import ItemKind, price_items

INTENT_TTL = dt.timedelta(minutes=30)


def new_out_trade_no(now: dt.datetime) -> str:
    """Unique, at most 32 characters of [0-9A-Za-z] as both platforms require."""
    return f"MY{now:%y%m%d%H%M%S}{secrets.token_hex(8).upper()}"


async def create_intent(
    db: AsyncConnection,
    customer: Customer,
    *,
    purpose: Purpose,
    item_id: int,
    amount: int,
    store_id: int,
    channel: Channel,
    app_id: str,
    merchant_id: str | None,
) -> int:
    if customer.member_id is None:
        raise DomainError("NOT_BOUND", "phoneCode")
    if customer.channel != channel:
        raise DomainError("CHANNEL_MISMATCH", "payWith", channel="微信" if customer.channel == Channel.WECHAT else "支付宝")
    now = utcnow()
    return (
        await db.execute(
            insert(payment_intents).values(
                brand_id=customer.brand_id, member_id=customer.member_id, store_id=store_id, channel=channel.value, purpose=purpose.value,
                item_id=item_id, amount=amount, out_trade_no=new_out_trade_no(now), app_id=app_id, merchant_id=merchant_id,
                payer_id=customer.open_id, status=IntentStatus.PENDING.value, expires_at=now + INTENT_TTL,
                next_query_at=now + dt.timedelta(minutes=3), refunded=0, created_at=now,
            ).returning(payment_intents.c.id)
        )
    ).scalar_one()


async def count_card_price(db: AsyncConnection, brand_id: int, store_id: int, product_id: int) -> int:
    priced = await price_items(db, brand_id, store_id, [(ItemKind.COUNT_CARD, product_id)])
    if (ItemKind.COUNT_CARD, product_id) not in priced:
        raise DomainError("NOT_FOUND", "productId", what="次卡")
    return priced[(ItemKind.COUNT_CARD, product_id)][1]


async def check_store(db: AsyncConnection, brand_id: int, store_id: int) -> None:
    await get_store(db, system_actor(brand_id), store_id)


async def top_up_product(db: AsyncConnection, brand_id: int, member_id: int) -> int:
    """A customer's top-up goes to their card; the brand's default card product when there is none
    (its first product if the brand has not chosen one)."""
    existing = (await db.execute(select(cards.cards.c.product_id, cards.cards.c.status).where(cards.cards.c.member_id == member_id).order_by(cards.cards.c.id).limit(1))).first()
    if existing is not None:
        if existing.status == cards.CardStatus.FROZEN:
            raise DomainError("CARD_FROZEN", "amount")
        if existing.status == cards.CardStatus.CLOSED:
            raise DomainError("CARD_CLOSED", "amount")
        return existing.product_id
    chosen = await db.scalar(select(brands.c.default_card_product_id).where(brands.c.id == brand_id))
    if chosen is not None:
        return chosen
    first = await db.scalar(select(cards.card_products.c.id).where(cards.card_products.c.brand_id == brand_id).order_by(cards.card_products.c.id).limit(1))
    if first is None:
        raise DomainError("NO_CARD_PRODUCT", "amount")
    return first


async def buy_with_stored_value(db: AsyncConnection, customer: Customer, *, product_id: int, store_id: int, reference: str) -> int:
    """Paid at once from the member's stored value: the desk's order and checkout, by the system."""
    if customer.member_id is None:
        raise DomainError("NOT_BOUND", "phoneCode")
    actor = system_actor(customer.brand_id)
    from domain.cards.reads import cards_by_member_ids

    active = [c for c in (await cards_by_member_ids(db, [customer.member_id]))[customer.member_id] if c.status == cards.CardStatus.ACTIVE]
    # The card with the most on it; the checkout refuses if even that is short.
    card = max(active, key=lambda c: (c.principal + c.gift, -c.id)).id if active else None
    if card is None:
        raise DomainError("INSUFFICIENT_BALANCE", "payWith", available="¥0.00")
    return await _sell_count_card(db, actor, customer.member_id, store_id, product_id, checkout.PaymentSpec(checkout.Method.STORED_VALUE, None, card, None), reference)


async def _sell_count_card(db, actor, member_id, store_id, product_id, payment, reference, agreed_price: int | None = None) -> int:
    order_id = await orders.open_order(
        db, actor, store_id=store_id, member_id=member_id, note="小程序购买",
        lines=[orders.LineSpec(ItemKind.COUNT_CARD, product_id, 1, agreed_price=agreed_price)],
    )
    await checkout.checkout(db, actor, order_id=order_id, payments=[payment], coupon_codes=[], reference=reference)
    from domain.cards.count_cards import count_cards

    line_id = await db.scalar(select(orders.order_lines.c.id).where(orders.order_lines.c.order_id == order_id))
    return await db.scalar(select(count_cards.c.id).where(count_cards.c.order_line_id == line_id))


async def apply_notification(db: AsyncConnection, note: PaymentNotification) -> str:
    """Apply a verified report exactly once. Returns the outcome: APPLIED, DUPLICATE, MISMATCH,
    UNKNOWN_TRADE, PENDING, CLOSED, or for refunds REFUND_SUCCEEDED, REFUND_FAILED, REFUND_UNSOLICITED…. Every outcome is a success for the platform:
    the event is recorded and retrying it would change nothing."""
    inserted = (
        await db.execute(
            insert_ignoring_conflicts(db, payment_events).values(
                channel=note.channel.value, event_id=note.event_id[:128], out_trade_no=note.out_trade_no[:64], kind=note.kind.value,
                outcome="RECEIVED", created_at=utcnow(),
            ).returning(payment_events.c.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        return "DUPLICATE"
    intent = (await db.execute(select(payment_intents).where(payment_intents.c.out_trade_no == note.out_trade_no, payment_intents.c.channel == note.channel.value))).first()
    outcome, detail = await _apply(db, intent, note)
    await db.execute(
        update(payment_events).where(payment_events.c.id == inserted).values(outcome=outcome, detail=detail, intent_id=intent.id if intent else None)
    )
    return outcome


async def _apply(db: AsyncConnection, intent, note: PaymentNotification) -> tuple[str, str | None]:
    if intent is None:
        return "UNKNOWN_TRADE", None
    problems = []
    if note.app_id != intent.app_id:
        problems.append(f"app id {note.app_id} != {intent.app_id}")
    if intent.merchant_id and note.merchant_id and note.merchant_id != intent.merchant_id:
        problems.append(f"merchant {note.merchant_id} != {intent.merchant_id}")
    if note.kind == EventKind.PAYMENT and note.state == TradeState.PAID and note.amount != intent.amount:
        problems.append(f"amount {note.amount} != {intent.amount}")
    if problems:
        reason = "; ".join(problems)[:200]
        # Flagged for finance, never credited.
        await db.execute(update(payment_intents).where(payment_intents.c.id == intent.id).values(flag=reason))
        return "MISMATCH", reason
    if note.kind == EventKind.REFUND:
        return await platform_refunds.apply_report(db, intent, note)
    if note.state == TradeState.PENDING:
        return "PENDING", None
    if note.state in (TradeState.CLOSED, TradeState.REFUNDED) and intent.status == IntentStatus.PENDING:
        if note.state == TradeState.CLOSED:
            await db.execute(update(payment_intents).where(payment_intents.c.id == intent.id, payment_intents.c.status == IntentStatus.PENDING.value).values(status=IntentStatus.CLOSED.value))
            return "CLOSED", None
    if note.state != TradeState.PAID:
        return "IGNORED", note.state.value
    # A late payment of an intent we had closed is still money received: credit it.
    moved = await db.execute(
        update(payment_intents)
        .where(payment_intents.c.id == intent.id, payment_intents.c.status.in_([IntentStatus.PENDING.value, IntentStatus.CLOSED.value]))
        .values(status=IntentStatus.PAID.value, platform_trade_no=note.platform_trade_no, paid_at=note.paid_at or utcnow())
    )
    if moved.rowcount != 1:
        return "DUPLICATE", "intent already settled"
    try:
        async with db.begin_nested():
            result_id = await _deliver(db, intent, note)
    except DomainError as error:
        # The customer has paid: keep the payment, answer the platform, and put it in front of
        # finance (a card frozen since, a product gone) rather than fail and lose the event.
        reason = f"PAID_NOT_DELIVERED: {error.code}"
        await db.execute(update(payment_intents).where(payment_intents.c.id == intent.id).values(flag=reason))
        return "NOT_DELIVERED", reason
    await db.execute(update(payment_intents).where(payment_intents.c.id == intent.id).values(result_id=result_id))
    return "APPLIED", None


async def _deliver(db: AsyncConnection, intent, note: PaymentNotification) -> int:
    actor = system_actor(intent.brand_id, "微信支付" if intent.channel == Channel.WECHAT else "支付宝")
    reference = f"intent:{intent.out_trade_no}"
    if intent.purpose == Purpose.TOP_UP:
        result = await cards.top_up(
            db, actor, member_id=intent.member_id, store_id=intent.store_id, amount=intent.amount, tender=cards.Tender(intent.channel),
            reference=reference, product_id=intent.item_id,
            before_recording=lambda product: coupon_rules.first_top_up_gift(db, actor, member_id=intent.member_id, product_id=product, amount=intent.amount),
        )
        return result.card_id
    payment = checkout.PaymentSpec(checkout.Method(intent.channel), intent.amount, None, None)
    # At the price the customer agreed to when paying, whatever the price list says now.
    card_id = await _sell_count_card(db, actor, intent.member_id, intent.store_id, intent.item_id, payment, reference, agreed_price=intent.amount)
    await audit.record(db, actor, "payment.apply", "payment_intent", intent.id, after={"out_trade_no": intent.out_trade_no, "amount": intent.amount})
    return card_id


async def get_intent(db: AsyncConnection, intent_id: int):
    return (await db.execute(select(payment_intents).where(payment_intents.c.id == intent_id))).first()


async def save_client_params(db: AsyncConnection, intent_id: int, params: str | None, platform_trade_no: str | None = None) -> None:
    await db.execute(update(payment_intents).where(payment_intents.c.id == intent_id).values(client_params=params, platform_trade_no=platform_trade_no))


async def due_for_query(db: AsyncConnection, now: dt.datetime, limit: int = 50) -> list:
    return list(
        await db.execute(
            select(payment_intents).where(payment_intents.c.status == IntentStatus.PENDING.value, payment_intents.c.next_query_at <= now)
            .order_by(payment_intents.c.next_query_at).limit(limit)
        )
    )


async def claim_for_query(db: AsyncConnection, intent_id: int, seen_next: dt.datetime, now: dt.datetime, attempt_gap: dt.timedelta) -> bool:
    """Several workers may run: the one whose conditional update wins queries this intent now."""
    taken = await db.execute(
        update(payment_intents)
        .where(payment_intents.c.id == intent_id, payment_intents.c.status == IntentStatus.PENDING.value, payment_intents.c.next_query_at == seen_next)
        .values(next_query_at=now + attempt_gap)
    )
    return taken.rowcount == 1


async def close_expired(db: AsyncConnection, intent_id: int) -> bool:
    closed = await db.execute(
        update(payment_intents).where(payment_intents.c.id == intent_id, payment_intents.c.status == IntentStatus.PENDING.value).values(status=IntentStatus.CLOSED.value)
    )
    return closed.rowcount == 1
