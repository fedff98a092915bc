"""Notifications: the outbox events that concern a member, turned into one row per member, kind and
event (DESIGN.md §6). The row carries the values its template needs and its status through the
worker: PENDING → CLAIMED → SENDING → SENT, or SKIPPED (with the reason), FAILED (with WeChat's
answer), UNKNOWN (a send whose answer never came: for staff to look at, never repeated blindly)."""

from __future__ import annotations

import datetime as dt
import enum
import json

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import outbox
from domain.brands.stores import stores
from domain.cards.count_card_products import count_card_products
from domain.cards.count_cards import count_cards
from domain.cards.stored_value import card_entries, card_products, cards
from domain.db import Id, UtcDateTime, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.members.members import members
from domain.notifications import settings
from domain.notifications.templates import Kind
from domain.sales.checkout import order_payments
from domain.sales.credit import credit_of

CONSUMER = "notifications"


class Status(enum.StrEnum):
    PENDING = "PENDING"
    CLAIMED = "CLAIMED"
    SENDING = "SENDING"
    SENT = "SENT"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


notifications = Table(
    "notifications",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("kind", String(30), nullable=False),
    Column("event_id", Id, ForeignKey("outbox_events.id"), nullable=True),
    Column("dedupe_key", String(160), nullable=False),
    # Placeholder → raw value (fen, ISO times, names), formatted for the template when sent.
    Column("values", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("platform", String(10), nullable=True),
    Column("template_id", String(128), nullable=True),
    Column("open_id", String(128), nullable=True),
    Column("request", Text, nullable=True),
    Column("response", Text, nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "dedupe_key"),
    Index("ix_notifications_status_due_at", "status", "due_at"),
    Index("ix_notifications_brand_id_member_id_id", "brand_id", "member_id", "id"),
    Index("ix_notifications_member_id_claimed_at", "member_id", "claimed_at"),
)


def _pick(payload: dict, *names, default=None):
    """Other areas' payloads are read defensively: the first of `names` present wins."""
    for name in names:
        value = payload.get(name)
        if value not in (None, ""):
            return value
    return default


async def queue(db: AsyncConnection, *, brand_id: int, member_id: int, kind: Kind, dedupe_key: str, values: dict,
                store_id: int | None = None, event_id: int | None = None, due_at: dt.datetime | None = None) -> bool:
    """One notification, once per dedupe key, due when its event was (so the pass that took the event
    sends it); the member's and store's names filled in now."""
    member_name = await db.scalar(select(members.c.name).where(members.c.id == member_id, members.c.brand_id == brand_id))
    if member_name is None:
        return False
    store_name = await db.scalar(select(stores.c.name).where(stores.c.id == store_id)) if store_id else None
    values = {"member": member_name, "store": store_name, **{k: v for k, v in values.items() if v is not None}}
    result = await db.execute(insert_ignoring_conflicts(db, notifications).values(
        brand_id=brand_id, member_id=member_id, store_id=store_id, kind=kind.value, event_id=event_id, dedupe_key=dedupe_key[:160],
        values=json.dumps(values, ensure_ascii=False, default=str), status=Status.PENDING.value, due_at=due_at or utcnow(), attempts=0,
        created_at=utcnow(),
    ))
    return result.rowcount == 1


# The outbox consumer -----------------------------------------------------------------------------

CHANGE_WORDS = {"card.topped_up": "充值", "order.paid": "消费", "order.refunded": "退款"}


async def _balance_changed(db: AsyncConnection, event: outbox.Event) -> None:
    """Each card whose balance the event's transfer moved: the change and the balance after."""
    transfer_id = _pick(event.payload, "transfer_id", "transferId")
    if transfer_id is None:
        return
    rows = list(await db.execute(
        select(card_entries, card_products.c.name.label("product_name"))
        .join(cards, cards.c.id == card_entries.c.card_id).join(card_products, card_products.c.id == cards.c.product_id)
        .where(card_entries.c.transfer_id == int(transfer_id)).order_by(card_entries.c.id)
    ))
    for r in rows:
        await queue(
            db, brand_id=event.brand_id, member_id=r.member_id, kind=Kind.BALANCE_CHANGED, dedupe_key=f"ev:{event.id}:balance:{r.card_id}",
            event_id=event.id, store_id=r.store_id or event.store_id, due_at=event.due_at,
            values={"change": CHANGE_WORDS.get(event.kind, "变动"), "amount": abs(r.principal_delta + r.gift_delta),
                    "balance": r.principal_after + r.gift_after, "principal": r.principal_after, "gift": r.gift_after,
                    "card": r.product_name, "time": r.created_at.isoformat(), "card_id": r.card_id},
        )


async def _checked_out(db: AsyncConnection, event: outbox.Event) -> None:
    await _balance_changed(db, event)
    order_id = _pick(event.payload, "order_id", "orderId")
    if order_id is None or event.member_id is None:
        return
    on_account = await db.scalar(select(order_payments.c.amount).where(order_payments.c.order_id == int(order_id), order_payments.c.method == "ON_ACCOUNT"))
    if on_account:
        rules = await settings.rules(db, event.brand_id)
        await queue(db, brand_id=event.brand_id, member_id=event.member_id, kind=Kind.ON_ACCOUNT_DUE, dedupe_key=f"order:{order_id}:on-account-due",
                    event_id=event.id, store_id=event.store_id, due_at=event.due_at + dt.timedelta(days=rules.on_account_due_days),
                    values={"amount": on_account, "time": event.due_at.isoformat(),
                            "dueAt": (event.due_at + dt.timedelta(days=rules.on_account_due_days)).isoformat()})


async def _count_card_issued(db: AsyncConnection, event: outbox.Event) -> None:
    card_id = _pick(event.payload, "card_id", "cardId", "count_card_id")
    row = (await db.execute(select(count_cards, count_card_products.c.name.label("product_name"))
                            .join(count_card_products, count_card_products.c.id == count_cards.c.product_id)
                            .where(count_cards.c.id == int(card_id or 0)))).first()
    if row is None:
        return
    rules = await settings.rules(db, event.brand_id)
    due = max(row.expires_at - dt.timedelta(days=rules.count_card_expiry_days), event.due_at)
    await queue(db, brand_id=event.brand_id, member_id=row.member_id, kind=Kind.COUNT_CARD_EXPIRING, dedupe_key=f"count-card:{row.id}:expiring",
                event_id=event.id, store_id=row.issued_store_id, due_at=due,
                values={"card": row.product_name, "remaining": row.sessions_left, "expiresAt": row.expires_at.isoformat(),
                        "days": rules.count_card_expiry_days, "count_card_id": row.id})


def _booking_values(p: dict) -> dict:
    return {"service": _pick(p, "service_name", "serviceName", "service"), "technician": _pick(p, "technician_name", "technicianName", "technician"),
            "time": _pick(p, "start", "starts_at", "startsAt", "time"), "note": _pick(p, "note"), "booking_id": _pick(p, "booking_id", "bookingId", "id")}


async def _booking(db: AsyncConnection, event: outbox.Event) -> None:
    if event.member_id is None and _pick(event.payload, "member_id", "memberId") is None:
        return
    kind = Kind.BOOKING_CONFIRMED if event.kind == "booking.confirmed" else Kind.BOOKING_REMINDER
    values = _booking_values(event.payload)
    if event.kind == "waitlist.offered":
        values["note"] = values.get("note") or "候补有空位，请尽快确认"
    await queue(db, brand_id=event.brand_id, member_id=int(event.member_id or _pick(event.payload, "member_id", "memberId")), kind=kind,
                dedupe_key=f"ev:{event.id}:{kind.value}", event_id=event.id, store_id=event.store_id or _pick(event.payload, "store_id", "storeId"),
                due_at=event.due_at, values=values)


async def _coupon(db: AsyncConnection, event: outbox.Event) -> None:
    p = event.payload
    member_id = event.member_id or _pick(p, "member_id", "memberId")
    if member_id is None:
        return
    valid_to = _pick(p, "valid_to", "validTo", "expires_at")
    due = event.due_at
    if event.kind == "coupon.issued":
        # Only its expiry is worth a message: queued for N days before it, unless coupons schedule their own.
        if valid_to is None:
            return
        try:
            end = dt.datetime.fromisoformat(str(valid_to))
        except ValueError:
            return
        end = end if end.tzinfo else end.replace(tzinfo=dt.UTC)
        rules = await settings.rules(db, event.brand_id)
        due = max(end - dt.timedelta(days=rules.count_card_expiry_days), event.due_at)
        if end <= event.due_at:
            return
    coupon_key = _pick(p, "coupon_id", "couponId", "code", default=f"ev{event.id}")
    key = f"coupon:{coupon_key}:expiring"
    queued = await queue(db, brand_id=event.brand_id, member_id=int(member_id), kind=Kind.COUPON_EXPIRING, dedupe_key=key,
                         event_id=event.id, store_id=event.store_id, due_at=due,
                         values={"coupon": _pick(p, "template_name", "templateName", "name", "coupon"), "code": _pick(p, "code"), "validTo": valid_to})
    if not queued and event.kind == "coupon.expiring":
        # The coupons area's own reminder wins over the one guessed at issue: still one message.
        n = notifications.c
        await db.execute(update(notifications).where(n.brand_id == event.brand_id, n.dedupe_key == key, n.status == Status.PENDING.value).values(due_at=due))


HANDLERS = {
    "card.topped_up": _balance_changed,
    "order.refunded": _balance_changed,
    "order.paid": _checked_out,
    "count_card.issued": _count_card_issued,
    "booking.confirmed": _booking,
    "booking.reminder_24h": _booking,
    "booking.reminder_2h": _booking,
    "waitlist.offered": _booking,
    "coupon.issued": _coupon,
    "coupon.expiring": _coupon,
}


async def _handle(db: AsyncConnection, event: outbox.Event) -> None:
    await HANDLERS[event.kind](db, event)


consumer = outbox.Consumer(CONSUMER, tuple(HANDLERS), _handle)


async def still_relevant(db: AsyncConnection, row, values: dict) -> str | None:
    """Why a reminder queued long ago should no longer go out (refreshing what it will say), or None."""
    if row.kind == Kind.COUNT_CARD_EXPIRING.value and values.get("count_card_id"):
        card = (await db.execute(select(count_cards).where(count_cards.c.id == values["count_card_id"]))).first()
        if card is None or card.status != "ACTIVE" or card.expires_at <= utcnow() or card.sessions_left == 0:
            return "NO_LONGER_RELEVANT"
        values["remaining"] = card.sessions_left
    if row.kind == Kind.ON_ACCOUNT_DUE.value:
        debt, _limit = await credit_of(db, row.member_id, row.brand_id)
        if debt <= 0:
            return "NO_LONGER_RELEVANT"
        values["amount"] = min(int(values.get("amount") or debt), debt)
    return None


async def page(db: AsyncConnection, brand_id: int, *, member_id: int | None, status: str | None, size: int, before_id: int | None) -> list:
    """Newest first, for staff: the brand's notifications, of one member or status if asked."""
    n = notifications.c
    q = select(notifications).where(n.brand_id == brand_id)
    if member_id is not None:
        q = q.where(n.member_id == member_id)
    if status is not None:
        q = q.where(n.status == status)
    if before_id is not None:
        q = q.where(n.id < before_id)
    return list(await db.execute(q.order_by(n.id.desc()).limit(size)))
