"""The outbox (DESIGN.md §3): every area writes the events that matter to others here, in the same
transaction as the change, and the areas that care consume them in `meiye worker`, exactly once.

An event has a kind (`card.topped_up`, `booking.confirmed`, `order.paid`, …), a dedupe key unique in
its brand (`booking:42:remind-24h`), so that a retry or a replay never queues it twice, the member it
concerns and a due time: now for what just happened, later for a reminder. A scheduled event can be
moved or withdrawn until it is consumed (a rescheduled or cancelled booking).

Each consumer (a name such as `marketing.referrals` or `notifications`) takes an event by inserting
its delivery row in the same transaction as its own effect: the unique (consumer, event) pair makes
that happen once however many workers run, and a consumer that fails rolls its delivery back with
its effect, to try again later. Several consumers may take the same event, each once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    exists,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.db import (
    Id,
    PerDialect,
    UtcDateTime,
    created_at_column,
    insert_ignoring_conflicts,
    metadata,
    utcnow,
    write_transaction,
)
from domain.writes import Write, insert_write

MAX_KEY_LENGTH = 120
log = logging.getLogger("meiye.outbox")

outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("kind", String(60), nullable=False),
    Column("dedupe_key", String(MAX_KEY_LENGTH), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("payload", Text, nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    created_at_column(),
    UniqueConstraint("brand_id", "dedupe_key"),
    Index("ix_outbox_events_kind_due_at", "kind", "due_at"),
)

outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("consumer", String(60), nullable=False),
    Column("event_id", Id, ForeignKey("outbox_events.id"), nullable=False),
    created_at_column(),
    UniqueConstraint("consumer", "event_id"),
)


@dataclass(frozen=True)
class Event:
    id: int
    brand_id: int
    kind: str
    dedupe_key: str
    member_id: int | None
    store_id: int | None
    payload: dict
    due_at: dt.datetime

    @classmethod
    def of(cls, row) -> "Event":
        return cls(row.id, row.brand_id, row.kind, row.dedupe_key, row.member_id, row.store_id, json.loads(row.payload), row.due_at)


def _check_key(dedupe_key: str) -> None:
    # Keys are made by our own code, never by a client: a bad one is a bug, not a user error.
    if not dedupe_key or len(dedupe_key) > MAX_KEY_LENGTH:
        raise ValueError(f"outbox dedupe key must be 1-{MAX_KEY_LENGTH} characters: {dedupe_key!r}")


_emit = PerDialect(lambda db: insert_ignoring_conflicts(db, outbox_events))


async def emit(
    db: AsyncConnection, *, brand_id: int, kind: str, dedupe_key: str, payload: dict, member_id: int | None = None,
    store_id: int | None = None, due_at: dt.datetime | None = None,
) -> bool:
    """Queue an event in the caller's transaction; False when its dedupe key is already queued."""
    result = await db.execute(_emit(db), _event_values(brand_id, kind, dedupe_key, payload, member_id, store_id, due_at))
    return result.rowcount == 1


def event(*, brand_id: int, kind: str, dedupe_key: str, payload: dict, member_id: int | None = None,
          store_id: int | None = None, due_at: dt.datetime | None = None) -> Write:
    """The event `emit` queues, for a caller that sends it with others (domain.writes)."""
    return insert_write(outbox_events, _event_values(brand_id, kind, dedupe_key, payload, member_id, store_id, due_at), skip_conflicts=True)


def _event_values(brand_id: int, kind: str, dedupe_key: str, payload: dict, member_id: int | None, store_id: int | None,
                  due_at: dt.datetime | None) -> dict:
    _check_key(dedupe_key)
    return {
        "brand_id": brand_id, "kind": kind, "dedupe_key": dedupe_key, "member_id": member_id, "store_id": store_id,
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str), "due_at": due_at or utcnow(), "created_at": utcnow(),
    }


def _not_consumed():
    return ~exists().where(outbox_deliveries.c.event_id == outbox_events.c.id)


async def schedule(
    db: AsyncConnection, *, brand_id: int, kind: str, dedupe_key: str, payload: dict, due_at: dt.datetime,
    member_id: int | None = None, store_id: int | None = None,
) -> None:
    """A reminder due later: queued, or moved to its new time and payload if it is still waiting.
    One already consumed stays as it was (it has happened)."""
    if await emit(db, brand_id=brand_id, kind=kind, dedupe_key=dedupe_key, payload=payload, member_id=member_id,
                  store_id=store_id, due_at=due_at):
        return
    await db.execute(
        update(outbox_events)
        .where(outbox_events.c.brand_id == brand_id, outbox_events.c.dedupe_key == dedupe_key, _not_consumed())
        .values(kind=kind, payload=json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str), due_at=due_at,
                member_id=member_id, store_id=store_id)
    )


async def withdraw(db: AsyncConnection, *, brand_id: int, dedupe_keys: Iterable[str]) -> int:
    """Take back reminders that no consumer has taken yet (a cancelled booking); how many went."""
    keys = list(dedupe_keys)
    if not keys:
        return 0
    result = await db.execute(
        delete(outbox_events).where(outbox_events.c.brand_id == brand_id, outbox_events.c.dedupe_key.in_(keys), _not_consumed())
    )
    return result.rowcount


async def pending(db: AsyncConnection, *, consumer: str, kinds: Iterable[str], now: dt.datetime, limit: int = 100) -> list[Event]:
    """Events of `kinds` that are due and that `consumer` has not taken, oldest first."""
    taken = exists().where(and_(outbox_deliveries.c.event_id == outbox_events.c.id, outbox_deliveries.c.consumer == consumer))
    rows = await db.execute(
        select(outbox_events)
        .where(outbox_events.c.kind.in_(list(kinds)), outbox_events.c.due_at <= now, ~taken)
        .order_by(outbox_events.c.id)
        .limit(limit)
    )
    return [Event.of(r) for r in rows]


async def take(db: AsyncConnection, *, consumer: str, event_id: int) -> bool:
    """Claim one event for `consumer` in the caller's transaction: True once, False ever after."""
    result = await db.execute(insert_ignoring_conflicts(db, outbox_deliveries).values(consumer=consumer, event_id=event_id, created_at=utcnow()))
    return result.rowcount == 1


Handler = Callable[[AsyncConnection, Event], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    """An area's consumer: its name, the event kinds it takes, and what it does with each, in the
    transaction that also records the delivery."""

    name: str
    kinds: tuple[str, ...]
    handle: Handler


async def consume(engine: AsyncEngine, consumer: Consumer, *, now: dt.datetime | None = None, limit: int = 100) -> int:
    """One pass of `consumer` over its due events, one transaction per event; how many it applied.
    An event whose handler raises is left for the next pass (its delivery rolls back with it)."""
    async with engine.connect() as db:
        events = await pending(db, consumer=consumer.name, kinds=consumer.kinds, now=now or utcnow(), limit=limit)
    applied = 0
    for event in events:
        try:
            async with write_transaction(engine) as db:
                if not await take(db, consumer=consumer.name, event_id=event.id):
                    continue
                await consumer.handle(db, event)
                applied += 1
        except Exception:  # noqa: BLE001 - one bad event must not stop the others; it is tried again next pass
            log.exception("outbox consumer %s failed on event %s (%s)", consumer.name, event.id, event.kind)
    return applied
