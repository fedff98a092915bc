"""Documents, variables and set-up for the bookings operations in tests/test_permissions.py, which
walks each with every role. Set-up that needs a past or pending booking writes it straight to the
database (the API refuses to book the past, rightly)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from sqlalchemy import insert, select

from domain.bookings import reviews as review_service
from domain.bookings.records import bookings
from domain.brands.staff import staff
from domain.db import create_engine, utcnow, write_transaction
from resolvers.ids import to_global_id
from tests.bookings.support import BOOKING, SH, at, local_day, pk, set_shifts
from tests.support import checkout, open_order

DAY = local_day(5)
_hours = itertools.count(1)


def _url() -> str:
    from tests.conftest import TEST_URL

    return TEST_URL


async def _insert_booking(ids, *, status: str, start: dt.datetime) -> int:
    engine = create_engine(_url(), pool=False)
    try:
        async with write_transaction(engine) as db:
            brand_id = await db.scalar(select(staff.c.brand_id).where(staff.c.username == "owner"))
            end = start + dt.timedelta(minutes=45)
            return (await db.execute(insert(bookings).values(
                brand_id=brand_id, store_id=pk(ids.jingan), member_id=pk(ids.member), service_id=pk(ids.services["洗剪吹"]),
                technician_id=pk(ids.staff["technician"]), status=status, holds_slot=True, start_at=start, end_at=end, block_end_at=end,
                local_date=start.astimezone(SH).date().isoformat(), source="DESK", version=0, created_at=utcnow(),
            ).returning(bookings.c.id))).scalar_one()
    finally:
        await engine.dispose()


async def shift_ready(demo, ids) -> dict:
    done = await set_shifts(demo, ids.staff["technician"], DAY, ("08:00", "22:00"))
    assert done["errors"] == [], done
    return {}


async def past_booking(demo, ids) -> dict:
    start = (utcnow() - dt.timedelta(hours=next(_hours))).replace(second=0, microsecond=0)
    return {"booking": to_global_id("Booking", await _insert_booking(ids, status="CONFIRMED", start=start))}


async def future_booking(demo, ids, status: str = "CONFIRMED") -> dict:
    await shift_ready(demo, ids)
    base = dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=SH) + dt.timedelta(days=1)
    start = base + dt.timedelta(hours=next(_hours) % 20)
    return {"booking": to_global_id("Booking", await _insert_booking(ids, status=status, start=start))}


async def pending_booking(demo, ids) -> dict:
    return await future_booking(demo, ids, "PENDING")


async def checked_in_booking(demo, ids) -> dict:
    made = await past_booking(demo, ids)
    data = await demo.gql("mutation($i: BookingInput!) { checkInBooking(input: $i) { errors { code } } }", {"i": {"bookingId": made["booking"]}}, as_="owner")
    assert data["checkInBooking"]["errors"] == [], data
    return made


async def a_review(demo, ids) -> dict:
    order = await open_order(demo, [{"serviceId": ids.services["洗剪吹"], "technicianId": ids.staff["technician"]}], member_id=ids.member, as_="owner")
    paid = await checkout(demo, order["id"], [{"method": "CASH"}], as_="owner")
    assert paid["errors"] == [], paid
    engine = create_engine(_url(), pool=False)
    try:
        async with write_transaction(engine) as db:
            brand_id = await db.scalar(select(staff.c.brand_id).where(staff.c.username == "owner"))
            review_id = await review_service.review(db, brand_id=brand_id, member_id=pk(ids.member), line_id=pk(order["lines"][0]["id"]),
                                                    rating=4, tags=[], comment="不错", recommend=False)
    finally:
        await engine.dispose()
    return {"review": to_global_id("Review", review_id)}


def booking_operations(Op, mutation) -> dict:
    today = dt.datetime.now(SH).date().isoformat()
    booking_mutation = lambda name, input_type="BookingInput": mutation(name, input_type, BOOKING)  # noqa: E731
    by_id = lambda ids, extra: {"i": {"bookingId": extra["booking"]}}  # noqa: E731
    return {
        "resources": Op("query($s: ID!) { resources(storeId: $s) { id name kind } }", lambda ids, extra: {"s": ids.jingan}),
        "createResource": Op(mutation("createResource", "CreateResourceInput", "resource { id kind }"),
                             lambda ids, extra: {"i": {"storeId": ids.jingan, "name": f"房间{extra['n']}", "kind": "ROOM"}}, writes=True),
        "updateService": Op(mutation("updateService", "UpdateServiceInput", "service { id bufferMinutes }"),
                            lambda ids, extra: {"i": {"serviceId": ids.services["洗剪吹"], "bufferMinutes": 5 + extra["n"]}}, writes=True),
        "setShifts": Op(mutation("setShifts", "SetShiftsInput", "shifts { date start end } conflictingBookings { id }"),
                        lambda ids, extra: {"i": {"technicianId": ids.staff["technician"], "storeId": ids.jingan,
                                                  "shifts": [{"date": (DAY + dt.timedelta(days=extra["n"])).isoformat(), "start": "10:00", "end": "14:00"}]}},
                        writes=True),
        "shifts": Op("query($s: ID!, $d: Date!) { shifts(storeId: $s, from: $d, to: $d) { date start end technician { id } } }",
                     lambda ids, extra: {"s": ids.jingan, "d": DAY.isoformat()}, prepare=shift_ready),
        "availability": Op("query($s: ID!, $v: ID!, $d: Date!) { availability(storeId: $s, serviceId: $v, date: $d) { start end technician { id } } }",
                           lambda ids, extra: {"s": ids.jingan, "v": ids.services["洗剪吹"], "d": DAY.isoformat()}, prepare=shift_ready),
        "bookings": Op("query($s: ID!, $d: Date!) { bookings(storeId: $s, date: $d) { id status start member { id } service { id } technician { id } } }",
                       lambda ids, extra: {"s": ids.jingan, "d": DAY.isoformat()}, prepare=future_booking),
        "createBooking": Op(booking_mutation("createBooking", "CreateBookingInput"),
                            lambda ids, extra: {"i": {"storeId": ids.jingan, "memberId": ids.member, "serviceId": ids.services["洗剪吹"],
                                                      "technicianId": ids.staff["technician"], "start": at(DAY, 8 + 2 * extra["n"]),
                                                      "idempotencyKey": uuid.uuid4().hex}},
                            prepare=shift_ready, writes=True),
        "rescheduleBooking": Op(booking_mutation("rescheduleBooking", "RescheduleBookingInput"),
                                lambda ids, extra: {"i": {"bookingId": extra["booking"], "start": at(DAY, 8 + 2 * extra["n"])}},
                                prepare=future_booking, writes=True),
        "cancelBooking": Op(booking_mutation("cancelBooking", "CancelBookingInput"),
                            lambda ids, extra: {"i": {"bookingId": extra["booking"], "reason": "门店调整"}}, prepare=future_booking, writes=True),
        "confirmBooking": Op(booking_mutation("confirmBooking"), by_id, prepare=pending_booking, writes=True),
        "markNoShow": Op(booking_mutation("markNoShow"), by_id, prepare=past_booking, writes=True),
        "checkInBooking": Op(booking_mutation("checkInBooking"), by_id, prepare=past_booking, writes=True),
        "completeBooking": Op(booking_mutation("completeBooking"), by_id, prepare=checked_in_booking, writes=True),
        "waitlist": Op("query($s: ID!, $d: Date!) { waitlist(storeId: $s, date: $d) { id status } }", lambda ids, extra: {"s": ids.jingan, "d": DAY.isoformat()}),
        "reviews": Op("{ reviews { id rating comment technician { id } } }", prepare=a_review),
        "replyToReview": Op(mutation("replyToReview", "ReplyToReviewInput", "review { id reply }"),
                            lambda ids, extra: {"i": {"reviewId": extra["review"], "reply": f"谢谢{extra['n']}"}}, prepare=a_review, writes=True),
        "hideReview": Op(mutation("hideReview", "HideReviewInput", "review { id hidden }"),
                         lambda ids, extra: {"i": {"reviewId": extra["review"], "reason": "辱骂"}}, prepare=a_review, writes=True),
        "technicianLeaderboard": Op("query($f: Date!, $t: Date!) { technicianLeaderboard(from: $f, to: $t) { technician { id } rating reviewCount servicesCount repeatRate } }",
                                    lambda ids, extra: {"f": today, "t": today}),
        "bookingSettings": Op("{ bookingSettings { slotMinutes noticeMinutes customerCancelHours confirmAfterNoShows reviewRewardPoints } }"),
        "updateBookingSettings": Op(mutation("updateBookingSettings", "UpdateBookingSettingsInput", "settings { noticeMinutes }"),
                                    lambda ids, extra: {"i": {"noticeMinutes": 30 + extra["n"]}}, writes=True),
    }
