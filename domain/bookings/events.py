"""The outbox events of bookings, for the notifications area to turn into messages: confirmed,
changed, cancelled, reminders 24 h and 2 h before (scheduled; a reschedule moves them, a
cancellation withdraws them), and a waitlist offer. Payloads carry what a message needs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import outbox
from domain.brands.catalogue import services
from domain.brands.staff import staff
from domain.brands.stores import store_timezone, stores

REMINDERS = (("booking.reminder_24h", "remind-24h", dt.timedelta(hours=24)), ("booking.reminder_2h", "remind-2h", dt.timedelta(hours=2)))


async def payload(db: AsyncConnection, booking) -> dict:
    tz = ZoneInfo(await store_timezone(db, booking.store_id, booking.brand_id))
    store = await db.scalar(select(stores.c.name).where(stores.c.id == booking.store_id))
    service = await db.scalar(select(services.c.name).where(services.c.id == booking.service_id))
    technician = await db.scalar(select(staff.c.name).where(staff.c.id == booking.technician_id))
    return {
        "booking_id": booking.id, "store": store, "store_id": booking.store_id, "service": service, "technician": technician,
        "technician_id": booking.technician_id, "member_id": booking.member_id, "status": booking.status,
        "start": booking.start_at.astimezone(tz).isoformat(), "end": booking.end_at.astimezone(tz).isoformat(),
    }


async def _emit(db: AsyncConnection, booking, kind: str, key: str, extra: dict | None = None) -> None:
    await outbox.emit(db, brand_id=booking.brand_id, kind=kind, dedupe_key=f"booking:{booking.id}:{key}",
                      payload={**await payload(db, booking), **(extra or {})}, member_id=booking.member_id, store_id=booking.store_id)


async def reminders(db: AsyncConnection, booking, now: dt.datetime) -> None:
    """Schedule (or move) each reminder still ahead; one whose time has passed is withdrawn."""
    body = await payload(db, booking)
    for kind, key, before in REMINDERS:
        due = booking.start_at - before
        dedupe = f"booking:{booking.id}:{key}"
        if due > now:
            await outbox.schedule(db, brand_id=booking.brand_id, kind=kind, dedupe_key=dedupe, payload=body, due_at=due,
                                  member_id=booking.member_id, store_id=booking.store_id)
        else:
            await outbox.withdraw(db, brand_id=booking.brand_id, dedupe_keys=[dedupe])


async def confirmed(db: AsyncConnection, booking, now: dt.datetime) -> None:
    await _emit(db, booking, "booking.confirmed", "confirmed")
    await reminders(db, booking, now)


async def changed(db: AsyncConnection, booking, now: dt.datetime, previous_start: dt.datetime) -> None:
    tz = ZoneInfo(await store_timezone(db, booking.store_id, booking.brand_id))
    await _emit(db, booking, "booking.changed", f"changed:{booking.version}", {"previous_start": previous_start.astimezone(tz).isoformat()})
    await reminders(db, booking, now)


async def cancelled(db: AsyncConnection, booking) -> None:
    await _emit(db, booking, "booking.cancelled", "cancelled", {"cancel_kind": booking.cancel_kind, "reason": booking.cancel_reason})
    await outbox.withdraw(db, brand_id=booking.brand_id, dedupe_keys=[f"booking:{booking.id}:{key}" for _, key, _ in REMINDERS])
