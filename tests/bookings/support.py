"""What the bookings tests share: the desk's documents, a technician with a shift, a customer's token."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select

from domain.actor import Actor
from domain.brands.staff import actor_from_row, staff
from domain.db import read_transaction, write_transaction
from domain.members.customers import customer_identities
from domain.db import utcnow
from resolvers.tokens import TokenSigner
from resolvers.ids import parse_global_id
from tests.support import Demo

SH = ZoneInfo("Asia/Shanghai")
ERRORS = "errors { code field message }"
BOOKING = "booking { id status start end technician { id name } resource { id } service { id } member { id } order { id total } }"
CREATE = f"mutation($i: CreateBookingInput!) {{ createBooking(input: $i) {{ {BOOKING} {ERRORS} }} }}"
RESCHEDULE = f"mutation($i: RescheduleBookingInput!) {{ rescheduleBooking(input: $i) {{ {BOOKING} {ERRORS} }} }}"
CANCEL = f"mutation($i: CancelBookingInput!) {{ cancelBooking(input: $i) {{ {BOOKING} {ERRORS} }} }}"
CHECK_IN = f"mutation($i: BookingInput!) {{ checkInBooking(input: $i) {{ {BOOKING} order {{ id total status }} {ERRORS} }} }}"
SET_SHIFTS = f"mutation($i: SetShiftsInput!) {{ setShifts(input: $i) {{ shifts {{ date start end }} conflictingBookings {{ id }} {ERRORS} }} }}"
AVAILABILITY = """query($s: ID!, $v: ID!, $d: Date!, $t: ID) { availability(storeId: $s, serviceId: $v, date: $d, technicianId: $t) {
  start end technician { id name } technicians { id } } }"""
UPDATE_SERVICE = f"mutation($i: UpdateServiceInput!) {{ updateService(input: $i) {{ service {{ id bufferMinutes resourceKind technicianIds }} {ERRORS} }} }}"


def local_day(days_ahead: int) -> dt.date:
    return dt.datetime.now(SH).date() + dt.timedelta(days=days_ahead)


def at(day: dt.date, hh: int, mm: int = 0) -> str:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=SH).isoformat()


def pk(gid: str) -> int:
    return parse_global_id(gid)[1]


async def hire_technician(demo: Demo, username: str, name: str, store: str | None = None) -> str:
    data = await demo.gql(
        f"mutation($i: CreateStaffInput!) {{ createStaff(input: $i) {{ staff {{ id }} {ERRORS} }} }}",
        {"i": {"username": username, "name": name, "role": "TECHNICIAN", "password": "tech-pass-123", "storeId": store or demo.jingan}}, as_="owner",
    )
    assert data["createStaff"]["errors"] == [], data
    return data["createStaff"]["staff"]["id"]


async def set_shifts(demo: Demo, technician: str, day: dt.date, *pairs: tuple[str, str], store: str | None = None, as_: str = "owner") -> dict:
    data = await demo.gql(SET_SHIFTS, {"i": {"technicianId": technician, "storeId": store or demo.jingan,
                                             "shifts": [{"date": day.isoformat(), "start": s, "end": e} for s, e in pairs]}}, as_=as_)
    return data["setShifts"]


async def book(demo: Demo, member: str, service: str, start: str, technician: str | None = None, *, key: str | None = None, as_: str = "reception",
               store: str | None = None) -> dict:
    payload = {"storeId": store or demo.jingan, "memberId": member, "serviceId": demo.services[service]["id"], "start": start,
               "idempotencyKey": key or uuid.uuid4().hex}
    if technician:
        payload["technicianId"] = technician
    return (await demo.gql(CREATE, {"i": payload}, as_=as_))["createBooking"]


async def actor_of(engine, username: str) -> Actor:
    async with read_transaction(engine) as db:
        return actor_from_row((await db.execute(select(staff).where(staff.c.username == username))).one())


async def customer_token(engine, settings, member_gid: str) -> str:
    """A signed-in mini-program customer bound to the member (as bindPhone would leave them)."""
    async with write_transaction(engine) as db:
        brand_id = await db.scalar(select(staff.c.brand_id).where(staff.c.username == "owner"))
        identity = (await db.execute(customer_identities.insert().values(
            brand_id=brand_id, channel="WECHAT", app_id="wx-test", open_id=uuid.uuid4().hex, member_id=pk(member_gid), created_at=utcnow(),
        ).returning(customer_identities.c.id))).scalar_one()
    return TokenSigner(settings.secret_key, settings.token_ttl_seconds).customer_token(identity, brand_id)
