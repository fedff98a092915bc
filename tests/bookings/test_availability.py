"""Availability as pure functions: shifts (with breaks), buffers, the grid, the notice period,
resources, and the store's local day (Asia/Shanghai is UTC+8: its 10:00 is 02:00 UTC)."""

import datetime as dt
from zoneinfo import ZoneInfo

from domain.bookings.availability import Busy, TechnicianDay, first_free_resource, free_slots, grid_starts, merge, on_grid
from domain.bookings.shifts import local_instant, parse_clock
from domain.timezones import day_bounds

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 12, 2)
ANCHOR = dt.datetime(2026, 12, 2, tzinfo=SH).astimezone(dt.UTC)
MIN = dt.timedelta(minutes=1)
EARLY = ANCHOR - dt.timedelta(days=1)


def at(hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 2, hh, mm, tzinfo=SH)


def clocks(slots) -> list[str]:
    return [s.start.astimezone(SH).strftime("%H:%M") for s in slots]


def slots(techs, *, duration=60, buffer=0, grid=15, earliest=EARLY, resources=None):
    return free_slots(techs, duration=duration * MIN, buffer=buffer * MIN, grid=grid * MIN, anchor=ANCHOR, earliest=earliest, resources=resources)


def test_a_shift_from_ten_to_two_starts_at_ten_and_nothing_ends_after_two():
    found = slots([TechnicianDay(1, [(at(10), at(14))])])
    assert clocks(found)[0] == "10:00" and clocks(found)[-1] == "13:00"
    assert len(found) == 13  # 10:00 … 13:00 every 15 minutes
    assert max(s.end for s in found) == at(14)
    assert all(s.technician_ids == (1,) for s in found)


def test_the_buffer_must_fit_in_the_shift_and_blocks_what_follows_a_booking():
    # A 60-minute service with a 15-minute cleanup, one booking 10:00-11:00 (+15).
    found = slots([TechnicianDay(1, [(at(10), at(14))], [(at(10), at(11, 15))])], buffer=15)
    assert clocks(found) == ["11:15", "11:30", "11:45", "12:00", "12:15", "12:30", "12:45"]
    # A booking starting at 12:30 blocks starts whose own block (75 min) would reach it.
    found = slots([TechnicianDay(1, [(at(10), at(14))], [(at(12, 30), at(13, 45))])], buffer=15)
    assert clocks(found) == ["10:00", "10:15", "10:30", "10:45", "11:00", "11:15"]


def test_a_lunch_break_is_two_shifts_and_adjacent_shifts_join():
    lunch = slots([TechnicianDay(1, [(at(10), at(12)), (at(13), at(15))])])
    assert clocks(lunch) == ["10:00", "10:15", "10:30", "10:45", "11:00", "13:00", "13:15", "13:30", "13:45", "14:00"]
    joined = slots([TechnicianDay(1, [(at(10), at(12)), (at(12), at(13))])], duration=90, grid=30)
    assert clocks(joined) == ["10:00", "10:30", "11:00", "11:30"]
    assert merge([(at(12), at(13)), (at(10), at(12)), (at(11), at(11, 30))]) == [(at(10), at(13))]


def test_the_grid_is_a_brand_setting_anchored_at_local_midnight():
    assert clocks(slots([TechnicianDay(1, [(at(10, 10), at(12))])], grid=30)) == ["10:30", "11:00"]
    assert clocks(slots([TechnicianDay(1, [(at(10), at(12))])], grid=20)) == ["10:00", "10:20", "10:40", "11:00"]
    assert on_grid(at(10, 45), 15 * MIN, ANCHOR) and not on_grid(at(10, 50), 15 * MIN, ANCHOR)


def test_no_start_within_the_notice_period():
    found = slots([TechnicianDay(1, [(at(10), at(14))])], earliest=at(11, 5))
    assert clocks(found)[0] == "11:15"
    found = slots([TechnicianDay(1, [(at(10), at(14))])], earliest=at(11, 15))
    assert clocks(found)[0] == "11:15"
    assert slots([TechnicianDay(1, [(at(10), at(14))])], earliest=at(13, 1)) == []


def test_with_no_technician_named_each_slot_lists_who_is_free_least_booked_first():
    techs = [
        TechnicianDay(7, [(at(10), at(12))], [(at(10), at(11))], bookings=1),
        TechnicianDay(3, [(at(10), at(12))], [(at(11), at(12))], bookings=1),
        TechnicianDay(9, [(at(10), at(12))], [], bookings=0),
    ]
    found = {clocks([s])[0]: s.technician_ids for s in slots(techs, duration=60, grid=60)}
    assert found == {"10:00": (9, 3), "11:00": (9, 7)}


def test_a_service_that_needs_a_room_needs_a_free_one():
    techs = [TechnicianDay(1, [(at(10), at(13))]), TechnicianDay(2, [(at(10), at(13))])]
    one_room_busy_at_ten = [[(at(10), at(11))]]
    assert clocks(slots(techs, grid=60, resources=one_room_busy_at_ten)) == ["11:00", "12:00"]
    assert clocks(slots(techs, grid=60, resources=[[(at(10), at(11))], []])) == ["10:00", "11:00", "12:00"]
    assert slots(techs, grid=60, resources=[]) == []  # the store has no room of the kind
    assert first_free_resource([4, 5], {4: [(at(10), at(11))]}, at(10, 30), at(11)) == 5
    assert first_free_resource([4], {4: [(at(10), at(11))]}, at(10, 30), at(11)) is None


def test_busy_blocks_are_half_open():
    busy = Busy([(at(10), at(11))])
    assert busy.is_free(at(11), at(12)) and busy.is_free(at(9), at(10))
    assert not busy.is_free(at(10, 59), at(12)) and not busy.is_free(at(9), at(10, 1))
    assert Busy([(at(10), at(14))]).covers(at(13), at(14)) and not Busy([(at(10), at(14))]).covers(at(13), at(14, 1))


def test_asia_shanghai_day_boundaries():
    # The local day 2026-12-02 is 2026-12-01 16:00 UTC to 2026-12-02 16:00 UTC.
    start, end = day_bounds(DAY, "Asia/Shanghai")
    assert (start, end) == (dt.datetime(2026, 12, 1, 16, tzinfo=dt.UTC), dt.datetime(2026, 12, 2, 16, tzinfo=dt.UTC))
    assert local_instant(DAY, parse_clock("00:00", "s"), "Asia/Shanghai") == start
    assert local_instant(DAY, parse_clock("24:00", "e"), "Asia/Shanghai") == end
    assert local_instant(DAY, parse_clock("10:00", "s"), "Asia/Shanghai") == dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC)
    # A late shift up to midnight offers its last start at 23:00 for an hour's service, on that day.
    late = slots([TechnicianDay(1, [(local_instant(DAY, 22 * 60, "Asia/Shanghai"), end)])], grid=30)
    assert clocks(late) == ["22:00", "22:30", "23:00"]
    assert late[-1].end == end


def test_grid_starts_round_up_to_the_grid():
    found = grid_starts((at(10, 7), at(11)), 30 * MIN, 15 * MIN, ANCHOR)
    assert [s.astimezone(SH).strftime("%H:%M") for s in found] == ["10:15", "10:30"]
