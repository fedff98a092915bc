"""Bookings: create (desk or customer; "any technician" takes the least-booked free one and moves
to the next on a conflict), reschedule (one UPDATE: never both slots, never neither), cancel,
confirm, no-show, check in (opens exactly one order) and complete. Every status change is
conditional on the current status. Overlaps are refused by the database on PostgreSQL (exclusion
constraints) and inside the serialised write transaction on SQLite; either way SLOT_TAKEN."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor, Role
from domain.bookings import events, waitlist
from domain.bookings.availability import Busy, Slot, TechnicianDay, first_free_resource, free_slots, on_grid
from domain.bookings.records import BookingStatus, CancelKind, Source, blocks_of, booking_history, bookings, day_counts, overlapping, technician_busy
from domain.bookings.resources import get_service, rules_for, store_resources, technicians_for
from domain.bookings.settings import BookingSettings, get_settings
from domain.bookings.shifts import get_technician, shifts_of
from domain.brands.stores import get_store, store_timezone
from domain.db import utcnow
from domain.errors import DomainError
from domain.members.members import get_member
from domain.sales.orders import LineSpec, open_order, orders
from domain.sales.pricing import ItemKind
from domain.validation import check_text

HOLDING = (BookingStatus.PENDING.value, BookingStatus.CONFIRMED.value)
MAX_DAYS_AHEAD = waitlist.MAX_DAYS_AHEAD


@dataclass(frozen=True)
class Plan:
    """What a booking of a service at a store needs, read once per operation."""

    store: object
    tz: str
    settings: BookingSettings
    service: object
    buffer: dt.timedelta
    resource_kind: str | None

    def local(self, at: dt.datetime) -> dt.datetime:
        return at.astimezone(ZoneInfo(self.tz))

    def anchor(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(self.tz))


async def _plan(db: AsyncConnection, actor: Actor, store_id: int, service_id: int, *, act: bool = True) -> Plan:
    store = await get_store(db, actor, store_id, act=act)
    service = await get_service(db, actor.brand_id, service_id)
    buffer, kind = await rules_for(db, service_id)
    return Plan(store, await store_timezone(db, store_id, actor.brand_id), await get_settings(db, actor.brand_id), service,
                dt.timedelta(minutes=buffer), kind)


def _check_start(plan: Plan, start: dt.datetime, now: dt.datetime, by_customer: bool) -> None:
    if start.tzinfo is None or start.second or start.microsecond:
        raise DomainError("INVALID_VALUE", "start", what="开始时间（须带时区，精确到分钟）")
    grid = dt.timedelta(minutes=plan.settings.slot_minutes)
    if start > now + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise DomainError("BOOKING_TOO_FAR", "start", days=MAX_DAYS_AHEAD)
    if by_customer:
        if not on_grid(start, grid, plan.anchor(plan.local(start).date())):
            raise DomainError("INVALID_VALUE", "start", what=f"开始时间（每{plan.settings.slot_minutes}分钟一档）")
        if start < now + dt.timedelta(minutes=plan.settings.notice_minutes):
            raise DomainError("BOOKING_TOO_SOON", "start", minutes=plan.settings.notice_minutes)
    elif start < now - grid:
        raise DomainError("BOOKING_IN_PAST", "start")


async def _candidates(db: AsyncConnection, actor: Actor, plan: Plan, technician_id: int | None, local_date: str) -> list[int]:
    """The named technician, or every able one, the least booked that day first."""
    able = [t.id for t in await technicians_for(db, actor.brand_id, plan.store.id, plan.service.id)]
    if technician_id is not None:
        await get_technician(db, actor, technician_id, plan.store.id)
        if technician_id not in able:
            raise DomainError("TECHNICIAN_NOT_QUALIFIED", "technicianId")
        return [technician_id]
    counts = await day_counts(db, able, local_date)
    return sorted(able, key=lambda t: (counts[t], t))


async def _fit(db: AsyncConnection, plan: Plan, technician_id: int, start: dt.datetime, end: dt.datetime, exclude_id: int | None) -> tuple[str | None, int | None]:
    """(why this technician cannot take [start, end), the resource it would use)."""
    local_date = plan.local(start).date().isoformat()
    shifts = (await shifts_of(db, [technician_id], local_date))[technician_id]
    if not Busy(shifts).covers(start, end):
        return "OUTSIDE_SHIFT", None
    if await technician_busy(db, technician_id, start, end, exclude_id):
        return "SLOT_TAKEN", None
    if plan.resource_kind is None:
        return None, None
    table = bookings
    rooms = await store_resources(db, plan.store.id, plan.resource_kind)
    if not rooms:
        return "NO_RESOURCE", None
    blocks = await blocks_of(db, table.c.resource_id, rooms, start, end)
    if exclude_id is not None:
        own = await db.scalar(select(table.c.resource_id).where(table.c.id == exclude_id))
        mine = (await db.execute(select(table.c.start_at, table.c.block_end_at).where(table.c.id == exclude_id))).first()
        if own in blocks and mine is not None:
            blocks[own] = [b for b in blocks[own] if b != (mine.start_at, mine.block_end_at)]
    room = first_free_resource(rooms, blocks, start, end)
    return (None, room) if room is not None else ("SLOT_TAKEN", None)


def _is_overlap(error: IntegrityError) -> bool:
    """An exclusion constraint refusing an overlap (SQLSTATE 23P01), as the driver reports it."""
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        if getattr(candidate, "sqlstate", None) == "23P01" or getattr(candidate, "pgcode", None) == "23P01":
            return True
    return "23P01" in str(error.orig) or "exclusion" in str(error.orig).lower()


async def _attempt(db: AsyncConnection, statement) -> object | None:
    """Run one insert or update in a savepoint; None when the database refused the overlap."""
    try:
        async with db.begin_nested():
            return (await db.execute(statement)).first()
    except IntegrityError as error:
        if _is_overlap(error):
            return None
        raise


async def _insert_for(db: AsyncConnection, actor: Actor, plan: Plan, technician_id: int, refusals: set, values: dict):
    """The booking row for this technician, or None (the reason added to `refusals`). A conflict may
    have been on the resource alone: fitting again after it sees the winner and may take another room."""
    for _ in range(3):
        why, room = await _fit(db, plan, technician_id, values["start_at"], values["block_end_at"], None)
        if why is not None:
            refusals.add(why)
            return None
        row = await _attempt(db, insert(bookings).values(resource_id=room, **values).returning(bookings))
        if row is not None:
            return row
        refusals.add("SLOT_TAKEN")
    return None


async def no_shows(db: AsyncConnection, member_id: int) -> int:
    return await db.scalar(select(func.count()).select_from(bookings).where(bookings.c.member_id == member_id, bookings.c.status == BookingStatus.NO_SHOW.value))


async def create_booking(
    db: AsyncConnection, actor: Actor, *, store_id: int, member_id: int, service_id: int, technician_id: int | None, start: dt.datetime,
    note: str | None, by_customer: bool = False, now: dt.datetime | None = None,
) -> int:
    now = now or utcnow()
    plan = await _plan(db, actor, store_id, service_id)
    await get_member(db, actor, member_id)
    note = check_text(note, "note", "备注", 200, required=False) or None
    _check_start(plan, start, now, by_customer)
    end = start + dt.timedelta(minutes=plan.service.duration_minutes)
    local_date = plan.local(start).date().isoformat()
    status = BookingStatus.CONFIRMED
    limit = plan.settings.confirm_after_no_shows
    if by_customer and limit is not None and await no_shows(db, member_id) >= limit:
        status = BookingStatus.PENDING
    refusals = set()
    for candidate in await _candidates(db, actor, plan, technician_id, local_date):
        row = await _insert_for(db, actor, plan, candidate, refusals, dict(
            brand_id=actor.brand_id, store_id=store_id, member_id=member_id, service_id=service_id, technician_id=candidate,
            status=status.value, holds_slot=True, start_at=start, end_at=end, block_end_at=end + plan.buffer, local_date=local_date,
            source=(Source.CUSTOMER if by_customer else Source.DESK).value, note=note, created_by=actor.staff_id, version=0, created_at=now,
        ))
        if row is None:
            continue
        await _history(db, row, "CREATED", actor, now)
        if status == BookingStatus.CONFIRMED:
            await events.confirmed(db, row, now)
        await audit.record(db, actor, "booking.create", "booking", row.id, after={"start": start.isoformat(), "technician": candidate,
                                                                                "status": status.value}, store_id=store_id)
        return row.id
    # The most telling reason: someone had the slot; else no room of the kind; else nobody works then.
    for why in ("SLOT_TAKEN", "NO_RESOURCE", "OUTSIDE_SHIFT"):
        if why in refusals or why == "OUTSIDE_SHIFT":
            raise DomainError(why, "start")
    raise AssertionError("unreachable")


async def _history(db: AsyncConnection, row, action: str, actor: Actor, now: dt.datetime, note: str | None = None) -> None:
    await db.execute(insert(booking_history).values(
        booking_id=row.id, action=action, status=row.status, start_at=row.start_at, technician_id=row.technician_id,
        staff_id=actor.staff_id, note=note, created_at=now,
    ))


async def get_booking(db: AsyncConnection, actor: Actor, booking_id: int, *, member_id: int | None = None, field: str = "bookingId"):
    """The booking, if the actor may see it: its brand, its store, a technician's own, a customer's own."""
    row = (await db.execute(select(bookings).where(bookings.c.id == booking_id))).first()
    if row is None or row.brand_id != actor.brand_id or (member_id is not None and row.member_id != member_id):
        raise DomainError("NOT_FOUND", field, what="预约")
    if actor.role == Role.TECHNICIAN and row.technician_id != actor.staff_id:
        raise DomainError("NOT_FOUND", field, what="预约")
    if not actor.can_act_for_store(row.store_id):
        raise DomainError("STORE_FORBIDDEN", field)
    return row


async def _move(db: AsyncConnection, booking, from_: tuple[str, ...], values: dict):
    """The conditional status change: the booking as it now is, or BOOKING_STATUS naming what it was."""
    row = (await db.execute(
        update(bookings).where(bookings.c.id == booking.id, bookings.c.status.in_(from_))
        .values(version=bookings.c.version + 1, **values).returning(bookings)
    )).first()
    if row is None:
        current = await db.scalar(select(bookings.c.status).where(bookings.c.id == booking.id))
        raise DomainError("BOOKING_STATUS", "bookingId", status=current)
    return row


async def reschedule(
    db: AsyncConnection, actor: Actor, *, booking_id: int, start: dt.datetime, technician_id: int | None, member_id: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Move a booking (same id, a history row), to another technician too if named, in one statement."""
    now = now or utcnow()
    booking = await get_booking(db, actor, booking_id, member_id=member_id)
    if booking.status not in HOLDING:
        raise DomainError("BOOKING_STATUS", "bookingId", status=booking.status)
    plan = await _plan(db, actor, booking.store_id, booking.service_id)
    _check_start(plan, start, now, member_id is not None)
    end = start + dt.timedelta(minutes=plan.service.duration_minutes)
    local_date = plan.local(start).date().isoformat()
    target = technician_id or booking.technician_id
    await _candidates(db, actor, plan, target, local_date)
    why, room = await _fit(db, plan, target, start, end + plan.buffer, booking.id)
    if why is not None:
        raise DomainError(why, "start")
    row = await _attempt(db, update(bookings).where(bookings.c.id == booking.id, bookings.c.status.in_(HOLDING), bookings.c.version == booking.version).values(
        start_at=start, end_at=end, block_end_at=end + plan.buffer, local_date=local_date, technician_id=target, resource_id=room,
        version=bookings.c.version + 1,
    ).returning(bookings))
    if row is None:
        raise DomainError("SLOT_TAKEN", "start")
    await _history(db, row, "RESCHEDULED", actor, now)
    if row.status == BookingStatus.CONFIRMED:
        await events.changed(db, row, now, booking.start_at)
    await audit.record(db, actor, "booking.reschedule", "booking", row.id, before={"start": booking.start_at.isoformat(), "technician": booking.technician_id},
                       after={"start": start.isoformat(), "technician": target}, store_id=row.store_id)
    return row.id


async def cancel(
    db: AsyncConnection, actor: Actor, *, booking_id: int, reason: str, kind: CancelKind, member_id: int | None = None, now: dt.datetime | None = None,
) -> int:
    """Cancel: a customer only up to the brand's hours before; the desk any time, a customer's
    cancellation after that time recorded as LATE. The freed slot goes to the waitlist."""
    now = now or utcnow()
    booking = await get_booking(db, actor, booking_id, member_id=member_id)
    reason = check_text(reason, "reason", "取消原因", 200)
    settings = await get_settings(db, actor.brand_id)
    late = now > booking.start_at - dt.timedelta(hours=settings.customer_cancel_hours)
    if member_id is not None and late:
        raise DomainError("CANCEL_TOO_LATE", "bookingId", hours=settings.customer_cancel_hours)
    if kind == CancelKind.CUSTOMER and late:
        kind = CancelKind.LATE
    row = await _move(db, booking, HOLDING, {"status": BookingStatus.CANCELLED.value, "holds_slot": False, "cancel_kind": kind.value, "cancel_reason": reason})
    await _history(db, row, "CANCELLED", actor, now, reason)
    await events.cancelled(db, row)
    await waitlist.offer_freed(db, row, now)
    await audit.record(db, actor, "booking.cancel", "booking", row.id, before={"status": booking.status}, after={"status": row.status, "kind": kind.value},
                       store_id=row.store_id)
    return row.id


async def confirm(db: AsyncConnection, actor: Actor, *, booking_id: int, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    booking = await get_booking(db, actor, booking_id)
    row = await _move(db, booking, (BookingStatus.PENDING.value,), {"status": BookingStatus.CONFIRMED.value})
    await _history(db, row, "CONFIRMED", actor, now)
    await events.confirmed(db, row, now)
    return row.id


async def mark_no_show(db: AsyncConnection, actor: Actor, *, booking_id: int, now: dt.datetime | None = None) -> int:
    """Once the start has passed; what is left of the slot is free again."""
    now = now or utcnow()
    booking = await get_booking(db, actor, booking_id)
    if booking.status == BookingStatus.CONFIRMED and now < booking.start_at:
        raise DomainError("NO_SHOW_TOO_EARLY", "bookingId")
    row = await _move(db, booking, (BookingStatus.CONFIRMED.value,), {"status": BookingStatus.NO_SHOW.value, "holds_slot": False})
    await _history(db, row, "NO_SHOW", actor, now)
    await audit.record(db, actor, "booking.no_show", "booking", row.id, after={"status": row.status}, store_id=row.store_id)
    return row.id


async def check_in(db: AsyncConnection, actor: Actor, *, booking_id: int, now: dt.datetime | None = None) -> tuple[int, int]:
    """(booking, order): opens one order with the booked service and technician, from the start of
    the booking's local day; a second check-in returns the same order."""
    now = now or utcnow()
    booking = await get_booking(db, actor, booking_id)
    if booking.order_id is not None and booking.status in (BookingStatus.CHECKED_IN, BookingStatus.COMPLETED):
        return booking.id, booking.order_id
    tz = await store_timezone(db, booking.store_id, booking.brand_id)
    if now.astimezone(ZoneInfo(tz)).date().isoformat() < booking.local_date:
        raise DomainError("CHECK_IN_TOO_EARLY", "bookingId")
    row = await _move(db, booking, (BookingStatus.CONFIRMED.value,), {"status": BookingStatus.CHECKED_IN.value})
    order_id = await open_order(db, actor, store_id=row.store_id, member_id=row.member_id, note=row.note,
                                lines=[LineSpec(ItemKind.SERVICE, row.service_id, 1, technician_id=row.technician_id)])
    await db.execute(update(orders).where(orders.c.id == order_id).values(booking_id=row.id))
    await db.execute(update(bookings).where(bookings.c.id == row.id).values(order_id=order_id))
    await _history(db, row, "CHECKED_IN", actor, now)
    await audit.record(db, actor, "booking.check_in", "booking", row.id, after={"order": order_id}, store_id=row.store_id)
    return row.id, order_id


async def complete(db: AsyncConnection, actor: Actor, *, booking_id: int, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    booking = await get_booking(db, actor, booking_id)
    row = await _move(db, booking, (BookingStatus.CHECKED_IN.value,), {"status": BookingStatus.COMPLETED.value})
    await _history(db, row, "COMPLETED", actor, now)
    return row.id


async def list_bookings(db: AsyncConnection, actor: Actor, *, store_id: int, day: dt.date, technician_id: int | None) -> list:
    """The store's bookings of a local day; a technician sees only their own."""
    await get_store(db, actor, store_id)
    if actor.role == Role.TECHNICIAN:
        technician_id = actor.staff_id
    stmt = select(bookings).where(bookings.c.store_id == store_id, bookings.c.local_date == day.isoformat())
    if technician_id is not None:
        stmt = stmt.where(bookings.c.technician_id == technician_id)
    return list(await db.execute(stmt.order_by(bookings.c.start_at, bookings.c.id)))


async def member_bookings(db: AsyncConnection, member_id: int, limit: int = 50) -> list:
    return list(await db.execute(select(bookings).where(bookings.c.member_id == member_id).order_by(bookings.c.start_at.desc(), bookings.c.id.desc()).limit(limit)))


async def bookings_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(bookings).where(bookings.c.id.in_(ids)))}


async def availability(
    db: AsyncConnection, actor: Actor, *, store_id: int, service_id: int, day: dt.date, technician_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[Slot]:
    """The free starts of a local day (see domain.bookings.availability)."""
    now = now or utcnow()
    plan = await _plan(db, actor, store_id, service_id, act=False)
    able = [t.id for t in await technicians_for(db, actor.brand_id, store_id, service_id)]
    if technician_id is not None:
        await get_technician(db, actor, technician_id, store_id)
        able = [t for t in able if t == technician_id]
    local_date = day.isoformat()
    # Shifts end by local midnight, so every block that matters lies inside the local day; the grid
    # steps in absolute time from local midnight (UTC arithmetic, right on a DST day too).
    anchor = plan.anchor(day).astimezone(dt.UTC)
    day_start, day_end = anchor, plan.anchor(day + dt.timedelta(days=1)).astimezone(dt.UTC)
    shifts = await shifts_of(db, able, local_date)
    working = [t for t in able if shifts[t]]
    blocks = {t: [] for t in working}
    counts = {t: 0 for t in working}
    # One read for both: the blocks that meet the day, and how many of the day's own each holds.
    for tid, s, e, d in await db.execute(select(bookings.c.technician_id, bookings.c.start_at, bookings.c.block_end_at, bookings.c.local_date)
                                         .where(bookings.c.technician_id.in_(working), overlapping(day_start, day_end))):
        blocks[tid].append((s, e))
        counts[tid] += d == local_date
    rooms = None
    if plan.resource_kind is not None:
        ids = await store_resources(db, store_id, plan.resource_kind)
        rooms = list((await blocks_of(db, bookings.c.resource_id, ids, day_start, day_end)).values())
    notice = dt.timedelta(minutes=plan.settings.notice_minutes)
    return free_slots(
        [TechnicianDay(t, shifts[t], blocks[t], counts[t]) for t in working],
        duration=dt.timedelta(minutes=plan.service.duration_minutes), buffer=plan.buffer,
        grid=dt.timedelta(minutes=plan.settings.slot_minutes), anchor=anchor, earliest=now + notice, resources=rooms,
    )
