"""Shift and waitlist dates and times a hostile client may send: out-of-range dates, non-ASCII digits."""

import datetime as dt

from tests.bookings.support import SET_SHIFTS, customer_token, local_day
from tests.support import GraphQLClient

JOIN = "mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { entryId errors { code field } } }"


async def _shifts(demo, shifts: list[dict], clear: list[str] | None = None) -> dict:
    data = await demo.gql(SET_SHIFTS, {"i": {"technicianId": demo.staff["technician"], "storeId": demo.jingan, "shifts": shifts,
                                             "clearDates": clear or []}}, as_="owner")
    return data["setShifts"]


async def test_shifts_refuse_dates_no_salon_books_reach(demo):
    ok = {"date": local_day(1).isoformat(), "start": "10:00", "end": "12:00"}
    for day in ("0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01"):
        done = await _shifts(demo, [ok, {"date": day, "start": "10:00", "end": "12:00"}])
        assert done["errors"] == [{"code": "INVALID_VALUE", "field": "shifts.1.date", "message": done["errors"][0]["message"]}], day
        assert done["shifts"] == []
    cleared = await _shifts(demo, [ok], clear=["9999-12-31"])
    assert [(e["code"], e["field"]) for e in cleared["errors"]] == [("INVALID_VALUE", "clearDates.0")]
    # A past date inside the range stays settable: a manager corrects last month's rota.
    past = local_day(-30).isoformat()
    done = await _shifts(demo, [{"date": past, "start": "10:00", "end": "12:00"}])
    assert done["errors"] == [] and done["shifts"] == [{"date": past, "start": "10:00", "end": "12:00"}]


async def test_shift_times_take_ascii_digits_only(demo):
    day = local_day(1).isoformat()
    for start in ("١٠:٠٠", "１０:００", "10:٠٠", "+9:00", " 9 :00", "9:0"):
        done = await _shifts(demo, [{"date": day, "start": start, "end": "18:00"}])
        assert [(e["code"], e["field"]) for e in done["errors"]] == [("INVALID_VALUE", "shifts.0.start")], start
    done = await _shifts(demo, [{"date": day, "start": "9:30", "end": "24:00"}])
    assert done["errors"] == [] and done["shifts"] == [{"date": day, "start": "09:30", "end": "24:00"}]


async def test_the_waitlist_takes_only_days_from_today_to_the_horizon(demo, engine, client, settings):
    member = (await demo.register(name="候补客", as_="owner"))["id"]
    token = await customer_token(engine, settings, member)
    customer = GraphQLClient(client.http, path="/mp/graphql")

    async def join(day: str) -> dict:
        data = await customer(JOIN, {"i": {"storeId": demo.jingan, "serviceId": demo.services["洗剪吹"]["id"], "date": day}}, token=token)
        return data["joinWaitlist"]

    for day, code in (("0001-01-01", "BOOKING_IN_PAST"), (local_day(-1).isoformat(), "BOOKING_IN_PAST"),
                      (local_day(181).isoformat(), "BOOKING_TOO_FAR"), ("9999-12-31", "BOOKING_TOO_FAR")):
        assert await join(day) == {"entryId": None, "errors": [{"code": code, "field": "date"}]}, day
    for day in (local_day(0), local_day(180)):
        joined = await join(day.isoformat())
        assert joined["errors"] == [] and joined["entryId"], day
