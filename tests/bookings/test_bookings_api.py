"""Bookings through the staff API, as the acceptance client will try them: a shift 10:00-14:00,
availability, 20 members at one start (exactly one), the buffer, one room for two technicians,
reschedule, cancel, idempotency replay, shift changes that strand bookings, the technician's own
day, and the outbox events a booking writes."""

import asyncio
import datetime as dt
import json
import uuid

from sqlalchemy import select

from domain.bookings.records import booking_history, bookings
from domain.db import read_transaction
from domain.outbox import outbox_events
from tests.bookings.support import (
    AVAILABILITY, CANCEL, RESCHEDULE, UPDATE_SERVICE, at, book, hire_technician, local_day, pk, set_shifts,
)
from tests.support import assert_ledger_ok


def hhmm(iso: str) -> str:
    return iso[11:16]


async def slots(demo, service: str, day, technician: str | None = None, as_: str = "reception") -> list:
    data = await demo.gql(AVAILABILITY, {"s": demo.jingan, "v": demo.services[service]["id"], "d": day.isoformat(), "t": technician}, as_=as_)
    return data["availability"]


async def outbox_rows(engine) -> list[tuple[str, str, dict]]:
    async with read_transaction(engine) as db:
        rows = await db.execute(select(outbox_events.c.kind, outbox_events.c.dedupe_key, outbox_events.c.payload, outbox_events.c.due_at).order_by(outbox_events.c.id))
        return [(r.kind, r.dedupe_key, json.loads(r.payload), r.due_at) for r in rows]


async def test_a_day_of_bookings_at_the_desk(demo, engine):
    day = local_day(3)
    amei = demo.staff["technician"]
    assert (await set_shifts(demo, amei, day, ("10:00", "14:00")))["errors"] == []

    found = await slots(demo, "洗剪吹", day)  # 45 minutes, no buffer yet
    assert hhmm(found[0]["start"]) == "10:00" and found[0]["start"] == at(day, 10)
    assert [hhmm(s["start"]) for s in found][-1] == "13:15" and len(found) == 14
    assert max(s["end"] for s in found) == at(day, 14)
    assert {s["technician"]["id"] for s in found} == {amei}

    done = await demo.gql(UPDATE_SERVICE, {"i": {"serviceId": demo.services["洗剪吹"]["id"], "bufferMinutes": 15}}, as_="owner")
    assert done["updateService"] == {"service": {"id": demo.services["洗剪吹"]["id"], "bufferMinutes": 15, "resourceKind": None, "technicianIds": []}, "errors": []}
    assert hhmm((await slots(demo, "洗剪吹", day))[-1]["start"]) == "13:00"

    # Twenty members at the same start at once: exactly one gets it.
    members = [(await demo.register(name=f"客{i}", as_="owner"))["id"] for i in range(20)]
    results = await asyncio.gather(*(book(demo, m, "洗剪吹", at(day, 10)) for m in members))
    winners = [r for r in results if r["errors"] == []]
    assert len(winners) == 1
    assert sorted(r["errors"][0]["code"] for r in results if r["errors"]) == ["SLOT_TAKEN"] * 19
    first = winners[0]["booking"]
    assert (first["status"], first["start"], first["end"], first["technician"]["id"]) == ("CONFIRMED", at(day, 10), at(day, 10, 45), amei)

    # The buffer: 10:45 is inside the cleanup, 11:00 right after it.
    inside = await book(demo, members[1], "洗剪吹", at(day, 10, 45))
    assert [(e["code"], e["field"]) for e in inside["errors"]] == [("SLOT_TAKEN", "start")]
    after = await book(demo, members[1], "洗剪吹", at(day, 11))
    assert after["errors"] == [] and after["booking"]["start"] == at(day, 11)

    # One room for two technicians.
    room = await demo.gql("mutation($i: CreateResourceInput!) { createResource(input: $i) { resource { id kind } errors { code } } }",
                          {"i": {"storeId": demo.jingan, "name": "护理房1", "kind": "ROOM"}}, as_="manager")
    assert room["createResource"]["errors"] == [] and room["createResource"]["resource"]["kind"] == "ROOM"
    await demo.gql(UPDATE_SERVICE, {"i": {"serviceId": demo.services["精油全身SPA"]["id"], "resourceKind": "ROOM"}}, as_="owner")
    xiaoli = await hire_technician(demo, "xiaoli", "小李")
    assert (await set_shifts(demo, xiaoli, day, ("10:00", "14:00"), as_="manager"))["errors"] == []
    spa = await book(demo, members[2], "精油全身SPA", at(day, 12), amei)
    assert spa["errors"] == [] and spa["booking"]["resource"] == {"id": room["createResource"]["resource"]["id"]}
    refused = await book(demo, members[3], "精油全身SPA", at(day, 12), xiaoli)
    assert [e["code"] for e in refused["errors"]] == ["SLOT_TAKEN"]
    assert [hhmm(s["start"]) for s in await slots(demo, "精油全身SPA", day, xiaoli)] == ["10:00", "10:15", "10:30"]

    # Reschedule the 11:00 booking to 小李 at 11:00: same id, a history row, and 阿美 is free at 11:00 again.
    moved = (await demo.gql(RESCHEDULE, {"i": {"bookingId": after["booking"]["id"], "start": at(day, 11), "technicianId": xiaoli}}, as_="reception"))["rescheduleBooking"]
    assert moved["errors"] == [] and (moved["booking"]["id"], moved["booking"]["technician"]["id"]) == (after["booking"]["id"], xiaoli)
    free = await slots(demo, "洗剪吹", day, amei)
    assert [hhmm(s["start"]) for s in free] == ["11:00"]  # 10:00 is taken, the SPA holds 12:00-13:30, and 13:30 leaves too little
    # A move into a taken slot is refused and leaves the booking where it was.
    clash = (await demo.gql(RESCHEDULE, {"i": {"bookingId": after["booking"]["id"], "start": at(day, 10), "technicianId": amei}}, as_="reception"))["rescheduleBooking"]
    assert [e["code"] for e in clash["errors"]] == ["SLOT_TAKEN"]
    async with read_transaction(engine) as db:
        row = (await db.execute(select(bookings).where(bookings.c.id == pk(after["booking"]["id"])))).one()
        history = [r.action for r in await db.execute(select(booking_history).where(booking_history.c.booking_id == row.id).order_by(booking_history.c.id))]
    assert (row.technician_id, row.start_at.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()) == (pk(xiaoli), at(day, 11))
    assert history == ["CREATED", "RESCHEDULED"]

    # Narrowing 阿美's shift to 10:00-11:00 would strand the SPA at 12:00: refused, naming it.
    stranded = await set_shifts(demo, amei, day, ("10:00", "11:00"))
    assert [e["code"] for e in stranded["errors"]] == ["SHIFT_HAS_BOOKINGS"]
    assert stranded["conflictingBookings"] == [{"id": spa["booking"]["id"]}] and stranded["shifts"] == []

    # Cancel the 10:00 booking: its reminders are withdrawn, the slot is free again.
    cancelled = (await demo.gql(CANCEL, {"i": {"bookingId": first["id"], "reason": "顾客临时有事", "by": "CUSTOMER"}}, as_="reception"))["cancelBooking"]
    assert cancelled["errors"] == [] and cancelled["booking"]["status"] == "CANCELLED"
    again = (await demo.gql(CANCEL, {"i": {"bookingId": first["id"], "reason": "再取消"}}, as_="reception"))["cancelBooking"]
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("BOOKING_STATUS", "bookingId")]
    assert hhmm((await slots(demo, "洗剪吹", day, amei))[0]["start"]) == "10:00"

    events = await outbox_rows(engine)
    first_id = pk(first["id"])
    mine = [(k, key) for k, key, _, _ in events if key.startswith(f"booking:{first_id}:")]
    assert mine == [("booking.confirmed", f"booking:{first_id}:confirmed"), ("booking.cancelled", f"booking:{first_id}:cancelled")]
    spa_id = pk(spa["booking"]["id"])
    reminders = {k: (p, due) for k, key, p, due in events if key.startswith(f"booking:{spa_id}:remind")}
    assert set(reminders) == {"booking.reminder_24h", "booking.reminder_2h"}
    payload, due = reminders["booking.reminder_2h"]
    assert (payload["store"], payload["service"], payload["technician"], payload["start"]) == ("静安店", "精油全身SPA", "阿美", at(day, 12))
    assert due.isoformat() == f"{day.isoformat()}T02:00:00+00:00"  # 10:00 in Shanghai
    moved_id = pk(after["booking"]["id"])
    assert [k for k, key, _, _ in events if key.startswith(f"booking:{moved_id}:changed")] == ["booking.changed"]

    # The technician sees their own day only.
    theirs = await demo.gql("query($s: ID!, $d: Date!) { bookings(storeId: $s, date: $d) { id technician { id } } }",
                            {"s": demo.jingan, "d": day.isoformat()}, as_="technician")
    assert {b["technician"]["id"] for b in theirs["bookings"]} == {amei} and len(theirs["bookings"]) == 2  # the cancelled one and the SPA
    everyone = await demo.gql("query($s: ID!, $d: Date!) { bookings(storeId: $s, date: $d) { id status } }", {"s": demo.jingan, "d": day.isoformat()}, as_="reception")
    assert sorted(b["status"] for b in everyone["bookings"]) == ["CANCELLED", "CONFIRMED", "CONFIRMED"]
    await assert_ledger_ok(engine)


async def test_a_booking_is_replayed_by_its_idempotency_key(demo, engine):
    day = local_day(2)
    await set_shifts(demo, demo.staff["technician"], day, ("10:00", "18:00"))
    member = (await demo.register(as_="owner"))["id"]
    key = uuid.uuid4().hex
    first = await book(demo, member, "日式美甲", at(day, 15), key=key)
    replay = await book(demo, member, "日式美甲", at(day, 15), key=key)
    assert first["errors"] == [] and replay == first
    other = await book(demo, member, "日式美甲", at(day, 16), key=key)
    assert [e["code"] for e in other["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    # The same key from another desk account is that account's own.
    own = await book(demo, member, "日式美甲", at(day, 16), key=key, as_="manager")
    assert own["errors"] == [] and own["booking"]["id"] != first["booking"]["id"]
    async with read_transaction(engine) as db:
        assert len(list(await db.execute(select(bookings.c.id)))) == 2


async def test_bad_booking_input_is_a_coded_error_and_changes_nothing(demo, engine):
    day = local_day(2)
    amei = demo.staff["technician"]
    await set_shifts(demo, amei, day, ("10:00", "12:00"))
    member = (await demo.register(as_="owner"))["id"]
    cases = [
        (at(day, 11, 30), amei, "OUTSIDE_SHIFT"),  # 60 minutes from 11:30 ends after the shift
        (at(day, 9), None, "OUTSIDE_SHIFT"),
        (at(local_day(-2), 10), amei, "BOOKING_IN_PAST"),
        (at(local_day(400), 10), amei, "BOOKING_TOO_FAR"),
        (at(day, 10), demo.staff["reception"], "NOT_FOUND"),  # not a technician
    ]
    for start, tech, code in cases:
        result = await book(demo, member, "日式美甲", start, tech)
        assert [e["code"] for e in result["errors"]] == [code], (start, result)
    naive = await demo.gql.raw(
        "mutation($i: CreateBookingInput!) { createBooking(input: $i) { errors { code field } } }",
        {"i": {"storeId": demo.jingan, "memberId": member, "serviceId": demo.services["日式美甲"]["id"], "start": f"{day.isoformat()}T10:00:00",
               "idempotencyKey": "naive"}}, as_="reception")
    assert naive["data"]["createBooking"]["errors"] == [{"code": "INVALID_VALUE", "field": "start"}]
    bad_shift = await set_shifts(demo, amei, day, ("12:00", "10:00"))
    assert [(e["code"], e["field"]) for e in bad_shift["errors"]] == [("INVALID_VALUE", "shifts.0.end")]
    overlap = await set_shifts(demo, amei, day, ("10:00", "12:00"), ("11:00", "13:00"))
    assert [(e["code"], e["field"]) for e in overlap["errors"]] == [("SHIFTS_OVERLAP", "shifts.1")]
    garbled = await set_shifts(demo, amei, day, ("10:60", "12:00"))
    assert [(e["code"], e["field"]) for e in garbled["errors"]] == [("INVALID_VALUE", "shifts.0.start")]
    elsewhere = await set_shifts(demo, amei, day, ("10:00", "12:00"), store=demo.xuhui)
    assert [e["code"] for e in elsewhere["errors"]] == ["TECHNICIAN_NOT_AT_STORE"]
    async with read_transaction(engine) as db:
        assert list(await db.execute(select(bookings.c.id))) == []


async def test_the_store_day_is_the_asia_shanghai_day_not_the_utc_one(demo, engine):
    day = local_day(3)
    amei = demo.staff["technician"]
    assert (await set_shifts(demo, amei, day, ("00:00", "01:30"), ("22:30", "24:00")))["errors"] == []
    found = await slots(demo, "日式美甲", day)  # 60 minutes
    assert [s["start"] for s in found] == [at(day, 0), at(day, 0, 15), at(day, 0, 30), at(day, 22, 30), at(day, 22, 45), at(day, 23)]
    member = (await demo.register(as_="owner"))["id"]
    early = await book(demo, member, "日式美甲", at(day, 0, 15), amei)  # 16:15 UTC the day before
    late = await book(demo, member, "日式美甲", at(day, 23), amei)  # 15:00 UTC the same day
    assert early["errors"] == [] and late["errors"] == []
    listed = "query($s: ID!, $d: Date!) { bookings(storeId: $s, date: $d) { id start } }"
    on_day = (await demo.gql(listed, {"s": demo.jingan, "d": day.isoformat()}, as_="reception"))["bookings"]
    assert [b["start"] for b in on_day] == [at(day, 0, 15), at(day, 23)]
    before = (await demo.gql(listed, {"s": demo.jingan, "d": (day - dt.timedelta(days=1)).isoformat()}, as_="reception"))["bookings"]
    assert before == []
    async with read_transaction(engine) as db:
        rows = [(r.local_date, r.start_at.isoformat()) for r in await db.execute(select(bookings).order_by(bookings.c.start_at))]
    previous = (day - dt.timedelta(days=1)).isoformat()
    assert rows == [(day.isoformat(), f"{previous}T16:15:00+00:00"), (day.isoformat(), f"{day.isoformat()}T15:00:00+00:00")]


async def test_store_bound_staff_book_only_their_store_and_technicians_see_only_their_own(demo, engine):
    day = local_day(2)
    xuhui_tech = await hire_technician(demo, "xuhui1", "徐汇技师", store=demo.xuhui)
    member = (await demo.register(as_="owner"))["id"]
    refused = await set_shifts(demo, xuhui_tech, day, ("10:00", "14:00"), store=demo.xuhui, as_="manager")
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("STORE_FORBIDDEN", "storeId")]
    assert (await set_shifts(demo, xuhui_tech, day, ("10:00", "14:00"), store=demo.xuhui))["errors"] == []
    elsewhere = await book(demo, member, "洗剪吹", at(day, 10), xuhui_tech, store=demo.xuhui, as_="reception")
    assert [(e["code"], e["field"]) for e in elsewhere["errors"]] == [("STORE_FORBIDDEN", "storeId")]
    theirs = await book(demo, member, "洗剪吹", at(day, 10), xuhui_tech, store=demo.xuhui, as_="owner")
    assert theirs["errors"] == []
    moved = (await demo.gql(RESCHEDULE, {"i": {"bookingId": theirs["booking"]["id"], "start": at(day, 11)}}, as_="reception"))["rescheduleBooking"]
    assert [(e["code"], e["field"]) for e in moved["errors"]] == [("STORE_FORBIDDEN", "bookingId")]
    listed = await demo.gql.raw("query($s: ID!, $d: Date!) { bookings(storeId: $s, date: $d) { id } }", {"s": demo.xuhui, "d": day.isoformat()}, as_="technician")
    assert [e["extensions"]["code"] for e in listed["errors"]] == ["STORE_FORBIDDEN"]
    # Another store's technician is not 静安店's to book.
    wrong = await book(demo, member, "洗剪吹", at(day, 10), xuhui_tech, as_="reception")
    assert [(e["code"], e["field"]) for e in wrong["errors"]] == [("TECHNICIAN_NOT_AT_STORE", "technicianId")]
    async with read_transaction(engine) as db:
        assert len(list(await db.execute(select(bookings.c.id)))) == 1
