"""The booking rows and their history, and the overlap reads every booking rule shares.

A booking that holds its slot blocks its technician and its resource from `start_at` to
`block_end_at` (its end plus the service's buffer). On PostgreSQL two exclusion constraints
(migration 0010, btree_gist) make overlapping holders impossible; on SQLite the same overlap is
checked inside the write transaction, which BEGIN IMMEDIATE serialises (domain/db.py)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from domain.db import Id, UtcDateTime, created_at_column, metadata
from domain.ledger.verify import Check
from domain.sales.orders import orders


class BookingStatus(enum.StrEnum):
    PENDING = "PENDING"  # a customer's booking waiting for the desk's confirmation
    CONFIRMED = "CONFIRMED"
    CHECKED_IN = "CHECKED_IN"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


class CancelKind(enum.StrEnum):
    CUSTOMER = "CUSTOMER"
    STORE = "STORE"
    LATE = "LATE"  # the customer cancelled after the brand's cancellation time


class Source(enum.StrEnum):
    DESK = "DESK"
    CUSTOMER = "CUSTOMER"


bookings = Table(
    "bookings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False, index=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=False),
    Column("resource_id", Id, ForeignKey("resources.id"), nullable=True),
    Column("status", String(12), nullable=False),
    Column("holds_slot", Boolean, nullable=False),
    Column("start_at", UtcDateTime(), nullable=False),
    Column("end_at", UtcDateTime(), nullable=False),
    Column("block_end_at", UtcDateTime(), nullable=False),
    # The store's local date of the start: the desk's and the technician's day.
    Column("local_date", String(10), nullable=False),
    Column("source", String(10), nullable=False),
    Column("note", String(200), nullable=True),
    Column("cancel_kind", String(10), nullable=True),
    Column("cancel_reason", String(200), nullable=True),
    Column("order_id", Id, nullable=True),
    Column("created_by", Id, ForeignKey("staff.id"), nullable=True),
    Column("version", Integer, nullable=False, default=0),
    created_at_column(),
    Index("ix_bookings_store_id_local_date", "store_id", "local_date"),
    Index("ix_bookings_technician_id_start_at", "technician_id", "start_at"),
)


# What happened to a booking, in order: a reschedule keeps the booking's id and adds a row here.
booking_history = Table(
    "booking_history",
    metadata,
    Column("id", Id, primary_key=True),
    Column("booking_id", Id, ForeignKey("bookings.id"), nullable=False, index=True),
    Column("action", String(20), nullable=False),
    Column("status", String(12), nullable=False),
    Column("start_at", UtcDateTime(), nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=False),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("note", String(200), nullable=True),
    created_at_column(),
)


def overlapping(start: dt.datetime, end: dt.datetime, *, exclude_id: int | None = None):
    """Bookings holding a slot whose block meets [start, end)."""
    cond = and_(bookings.c.holds_slot == True, bookings.c.start_at < end, bookings.c.block_end_at > start)  # noqa: E712
    return and_(cond, bookings.c.id != exclude_id) if exclude_id is not None else cond


async def technician_busy(db: AsyncConnection, technician_id: int, start: dt.datetime, end: dt.datetime, exclude_id: int | None = None) -> bool:
    return bool(await db.scalar(select(bookings.c.id).where(bookings.c.technician_id == technician_id, overlapping(start, end, exclude_id=exclude_id)).limit(1)))


async def blocks_of(db: AsyncConnection, column, ids: list[int], start: dt.datetime, end: dt.datetime) -> dict[int, list]:
    """The blocks of the holding bookings of each technician or resource (`column`) meeting [start, end)."""
    found: dict[int, list] = {i: [] for i in ids}
    if not ids:
        return found
    for key, s, e in await db.execute(
        select(column, bookings.c.start_at, bookings.c.block_end_at).where(column.in_(ids), overlapping(start, end))
    ):
        found[key].append((s, e))
    return found


async def day_counts(db: AsyncConnection, technician_ids: list[int], local_date: str) -> dict[int, int]:
    found = {i: 0 for i in technician_ids}
    for tid, n in await db.execute(
        select(bookings.c.technician_id, func.count()).where(bookings.c.technician_id.in_(technician_ids), bookings.c.local_date == local_date,
                                                            bookings.c.holds_slot == True).group_by(bookings.c.technician_id)  # noqa: E712
    ):
        found[tid] = n
    return found


async def verify(db: AsyncConnection):
    """No two slot-holding bookings overlap on a technician or a resource (what PostgreSQL's
    constraints guarantee, checked on both databases); each checked-in booking's order points back."""
    a, b = aliased(bookings), aliased(bookings)
    clash = list(await db.execute(
        select(a.c.id, b.c.id).select_from(a).join(b, and_(a.c.id < b.c.id, a.c.holds_slot == True, b.c.holds_slot == True,  # noqa: E712
                                                          a.c.start_at < b.c.block_end_at, b.c.start_at < a.c.block_end_at))
        .where(or_(a.c.technician_id == b.c.technician_id, and_(a.c.resource_id.is_not(None), a.c.resource_id == b.c.resource_id)))
    ))
    links = list(await db.execute(
        select(bookings.c.id, bookings.c.order_id, orders.c.booking_id).select_from(bookings.outerjoin(orders, orders.c.id == bookings.c.order_id))
        .where(bookings.c.order_id.is_not(None))
    ))
    shapes = list(await db.execute(select(bookings.c.id).where(or_(bookings.c.end_at <= bookings.c.start_at, bookings.c.block_end_at < bookings.c.end_at))))
    count = await db.scalar(select(func.count()).select_from(bookings))
    return [
        Check("no two slot-holding bookings overlap on a technician or a resource", count, [f"bookings {x} and {y} overlap" for x, y in clash]),
        Check("every checked-in booking's order belongs to it", len(links), [f"booking {i}: order {o} points to {back}" for i, o, back in links if back != i]),
        Check("every booking ends after it starts, its buffer after its end", count, [f"booking {i}" for (i,) in shapes]),
    ]
