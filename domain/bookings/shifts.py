"""Shifts (排班): when a technician works at a store, per local date, in the store's wall-clock time.
Several a day make breaks (10:00-12:00 and 13:00-18:00 is a lunch hour). Setting a date's shifts
replaces that date's; a change that would leave a booking outside every shift is refused with the
list of those bookings."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor, Role
from domain.bookings.availability import Busy
from domain.bookings.records import bookings
from domain.brands.staff import staff
from domain.brands.stores import get_store, store_timezone
from domain.db import Id, UtcDateTime, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.timezones import check_day

MAX_DATES = 62
MAX_PER_DAY = 6

shifts = Table(
    "shifts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=False),
    Column("local_date", String(10), nullable=False),
    # Minutes after local midnight, 0-1440: what the manager typed, kept as typed.
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
    Column("start_at", UtcDateTime(), nullable=False),
    Column("end_at", UtcDateTime(), nullable=False),
    created_at_column(),
    Index("ix_shifts_technician_id_local_date", "technician_id", "local_date"),
    Index("ix_shifts_store_id_local_date", "store_id", "local_date"),
)


@dataclass(frozen=True)
class ShiftSpec:
    date: dt.date
    start: str
    end: str


# ASCII digits only: int() and \d would take "١٠:٠٠" (Arabic-Indic digits) as 10:00.
CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def parse_clock(text: str, field: str) -> int:
    """'10:00' -> 600; '24:00' is the end of the day."""
    found = CLOCK.fullmatch((text or "").strip())
    value = int(found[1]) * 60 + int(found[2]) if found else -1
    if not found or not int(found[2]) < 60 or not 0 <= value <= 24 * 60:
        raise DomainError("INVALID_VALUE", field, what="时间（HH:MM）")
    return value


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def local_instant(day: dt.date, minute: int, tz_name: str) -> dt.datetime:
    """The UTC instant of `minute` after local midnight of `day` (wall-clock, so a DST day stays right)."""
    wall = dt.datetime.combine(day, dt.time.min) + dt.timedelta(minutes=minute)
    return wall.replace(tzinfo=ZoneInfo(tz_name)).astimezone(dt.UTC)


async def get_technician(db: AsyncConnection, actor: Actor, technician_id: int, store_id: int | None = None, field: str = "technicianId"):
    row = (await db.execute(select(staff).where(staff.c.id == technician_id))).first()
    if row is None or row.brand_id != actor.brand_id or row.role != Role.TECHNICIAN.value or not row.active:
        raise DomainError("NOT_FOUND", field, what="技师")
    if store_id is not None and row.store_id != store_id:
        raise DomainError("TECHNICIAN_NOT_AT_STORE", field)
    return row


async def set_shifts(
    db: AsyncConnection, actor: Actor, *, technician_id: int, store_id: int, specs: list[ShiftSpec], clear_dates: list[dt.date],
) -> list:
    """Replace the technician's shifts on every date named (in `specs` or `clear_dates`)."""
    await get_store(db, actor, store_id)
    await get_technician(db, actor, technician_id, store_id)
    tz = await store_timezone(db, store_id, actor.brand_id)
    for i, day in enumerate(clear_dates):
        check_day(day, f"clearDates.{i}")
    wanted = _parse(specs)
    dates = sorted(set(wanted) | {d.isoformat() for d in clear_dates})
    if not dates:
        raise DomainError("REQUIRED", "shifts", what="排班")
    if len(dates) > MAX_DATES:
        raise DomainError("TOO_MANY", "shifts", what="排班日期", max=MAX_DATES)
    rows = [
        {"brand_id": actor.brand_id, "store_id": store_id, "technician_id": technician_id, "local_date": day, "start_minute": s, "end_minute": e,
         "start_at": local_instant(dt.date.fromisoformat(day), s, tz), "end_at": local_instant(dt.date.fromisoformat(day), e, tz), "created_at": utcnow()}
        for day, pairs in sorted(wanted.items()) for s, e in pairs
    ]
    await _refuse_stranded(db, technician_id, dates, rows)
    await db.execute(delete(shifts).where(shifts.c.technician_id == technician_id, shifts.c.local_date.in_(dates)))
    if rows:
        await db.execute(insert(shifts), rows)
    await audit.record(db, actor, "shifts.set", "staff", technician_id, after={d: [f"{clock(s)}-{clock(e)}" for s, e in wanted.get(d, [])] for d in dates},
                       store_id=store_id)
    return await list_shifts(db, technician_ids=[technician_id], dates=dates)


def _parse(specs: list[ShiftSpec]) -> dict[str, list[tuple[int, int]]]:
    wanted: dict[str, list[tuple[int, int]]] = {}
    for i, spec in enumerate(specs):
        # Past dates stay settable (a manager corrects last week's rota), but not year 1 or 9999.
        check_day(spec.date, f"shifts.{i}.date")
        start, end = parse_clock(spec.start, f"shifts.{i}.start"), parse_clock(spec.end, f"shifts.{i}.end")
        if end <= start:
            raise DomainError("INVALID_VALUE", f"shifts.{i}.end", what="下班时间（须晚于上班时间）")
        day = wanted.setdefault(spec.date.isoformat(), [])
        if any(s < end and start < e for s, e in day):
            raise DomainError("SHIFTS_OVERLAP", f"shifts.{i}")
        if len(day) >= MAX_PER_DAY:
            raise DomainError("TOO_MANY", f"shifts.{i}", what="每日班次", max=MAX_PER_DAY)
        day.append((start, end))
    return wanted


async def _refuse_stranded(db: AsyncConnection, technician_id: int, dates: list[str], rows: list[dict]) -> None:
    """Bookings of those dates that the new shifts would not cover: refused, naming each."""
    held = list(await db.execute(
        select(bookings.c.id, bookings.c.start_at, bookings.c.block_end_at).where(
            bookings.c.technician_id == technician_id, bookings.c.local_date.in_(dates), bookings.c.holds_slot == True,  # noqa: E712
        ).order_by(bookings.c.start_at)
    ))
    cover = Busy((r["start_at"], r["end_at"]) for r in rows)
    stranded = [b.id for b in held if not cover.covers(b.start_at, b.block_end_at)]
    if stranded:
        raise DomainError("SHIFT_HAS_BOOKINGS", "shifts", count=len(stranded), booking_ids=stranded)


async def list_shifts(db: AsyncConnection, *, technician_ids: list[int] | None = None, store_id: int | None = None, dates: list[str]) -> list:
    stmt = select(shifts).where(shifts.c.local_date.in_(dates)).order_by(shifts.c.local_date, shifts.c.technician_id, shifts.c.start_minute)
    if technician_ids is not None:
        stmt = stmt.where(shifts.c.technician_id.in_(technician_ids))
    if store_id is not None:
        stmt = stmt.where(shifts.c.store_id == store_id)
    return list(await db.execute(stmt))


async def shifts_of(db: AsyncConnection, technician_ids: list[int], local_date: str) -> dict[int, list]:
    found: dict[int, list] = {i: [] for i in technician_ids}
    for row in await db.execute(select(shifts.c.technician_id, shifts.c.start_at, shifts.c.end_at).where(
            shifts.c.technician_id.in_(technician_ids), shifts.c.local_date == local_date)):
        found[row.technician_id].append((row.start_at, row.end_at))
    return found
