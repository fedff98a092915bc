"""The waitlist: a customer waits for a day at a store, for a service, with one technician or any.
When a booking is cancelled, the first waiting customer (oldest first) whose wish fits the freed
block is offered it: an outbox event for the notifications area to send, and the entry marked."""

from __future__ import annotations

import datetime as dt
import enum
from zoneinfo import ZoneInfo

from sqlalchemy import Column, ForeignKey, Index, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import outbox
from domain.actor import Actor
from domain.bookings.events import payload
from domain.bookings.resources import get_service, rules_by_service_ids
from domain.bookings.shifts import get_technician
from domain.brands.catalogue import services
from domain.brands.stores import get_store, store_timezone
from domain.db import Id, UtcDateTime, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.members.members import get_member

MAX_WAITING_PER_MEMBER = 10
# The desk's booking horizon; bookings.py takes it from here since it imports this module.
MAX_DAYS_AHEAD = 180


class WaitStatus(enum.StrEnum):
    WAITING = "WAITING"
    OFFERED = "OFFERED"
    WITHDRAWN = "WITHDRAWN"


waitlist_entries = Table(
    "waitlist_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("local_date", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("offered_booking_id", Id, nullable=True),
    Column("offered_at", UtcDateTime(), nullable=True),
    created_at_column(),
    Index("ix_waitlist_entries_store_id_local_date", "store_id", "local_date"),
)


async def join(
    db: AsyncConnection, actor: Actor, *, store_id: int, member_id: int, service_id: int, day: dt.date, technician_id: int | None,
    now: dt.datetime | None = None,
) -> int:
    now = now or utcnow()
    await get_store(db, actor, store_id, act=False)
    await _check_day(db, actor, store_id, day, now)
    await get_member(db, actor, member_id)
    await get_service(db, actor.brand_id, service_id)
    if technician_id is not None:
        await get_technician(db, actor, technician_id, store_id)
    waiting = list((await db.execute(select(waitlist_entries.c.id).where(
        waitlist_entries.c.member_id == member_id, waitlist_entries.c.status == WaitStatus.WAITING.value))).scalars())
    if len(waiting) >= MAX_WAITING_PER_MEMBER:
        raise DomainError("TOO_MANY", "date", what="候补", max=MAX_WAITING_PER_MEMBER)
    return (await db.execute(insert(waitlist_entries).values(
        brand_id=actor.brand_id, store_id=store_id, member_id=member_id, service_id=service_id, technician_id=technician_id,
        local_date=day.isoformat(), status=WaitStatus.WAITING.value, created_at=now,
    ).returning(waitlist_entries.c.id))).scalar_one()


async def _check_day(db: AsyncConnection, actor: Actor, store_id: int, day: dt.date, now: dt.datetime) -> None:
    """Waiting only makes sense for a day a booking could still be made: from the store's today to the horizon."""
    today = now.astimezone(ZoneInfo(await store_timezone(db, store_id, actor.brand_id))).date()
    if day < today:
        raise DomainError("BOOKING_IN_PAST", "date")
    if day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise DomainError("BOOKING_TOO_FAR", "date", days=MAX_DAYS_AHEAD)


async def offer_freed(db: AsyncConnection, booking, now: dt.datetime) -> int | None:
    """Offer a cancelled booking's block to the first waiting customer it fits; the entry, or None."""
    waiting = list(await db.execute(
        select(waitlist_entries, services.c.duration_minutes, services.c.name.label("service_name"))
        .join(services, services.c.id == waitlist_entries.c.service_id)
        .where(waitlist_entries.c.store_id == booking.store_id, waitlist_entries.c.local_date == booking.local_date,
               waitlist_entries.c.status == WaitStatus.WAITING.value, waitlist_entries.c.member_id != booking.member_id)
        .order_by(waitlist_entries.c.id)
    ))
    freed = booking.block_end_at - booking.start_at
    buffers = await rules_by_service_ids(db, [w.service_id for w in waiting])
    for entry in waiting:
        if entry.technician_id not in (None, booking.technician_id):
            continue
        if dt.timedelta(minutes=entry.duration_minutes + buffers[entry.service_id][0]) > freed:
            continue
        moved = await db.execute(update(waitlist_entries).where(waitlist_entries.c.id == entry.id, waitlist_entries.c.status == WaitStatus.WAITING.value)
                                 .values(status=WaitStatus.OFFERED.value, offered_booking_id=booking.id, offered_at=now))
        if moved.rowcount != 1:
            continue
        body = {**await payload(db, booking), "member_id": entry.member_id, "waitlist_entry_id": entry.id, "service": entry.service_name,
                "service_id": entry.service_id}
        await outbox.emit(db, brand_id=booking.brand_id, kind="waitlist.offered", dedupe_key=f"waitlist:{entry.id}:offer:{booking.id}",
                          payload=body, member_id=entry.member_id, store_id=booking.store_id)
        return entry.id
    return None


async def list_waiting(db: AsyncConnection, actor: Actor, *, store_id: int, day: dt.date) -> list:
    await get_store(db, actor, store_id)
    return list(await db.execute(select(waitlist_entries).where(waitlist_entries.c.store_id == store_id, waitlist_entries.c.local_date == day.isoformat())
                                 .order_by(waitlist_entries.c.id)))
