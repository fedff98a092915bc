"""Free starts, as pure functions of shifts, bookings and resources (no database, no clock).

All times are aware datetimes; intervals are half-open [start, end). A booking blocks its
technician, and its resource if it has one, from its start to its end plus the service's buffer;
a start is free when that whole block fits inside one (merged) shift of the technician, overlaps
none of the technician's blocks, and, for a service that needs a resource, leaves at least one
resource of the kind free for the block. Starts lie on a grid anchored at the store's local
midnight, and none starts before `earliest` (now plus the notice period)."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterable, Sequence

Interval = tuple[dt.datetime, dt.datetime]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined (a 10-12 and a 12-14 shift are 10-14)."""
    merged: list[list[dt.datetime]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


class Busy:
    """Merged blocks with their starts indexed, so that a check is two bisections."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.blocks = merge(intervals)
        self.starts = [s for s, _ in self.blocks]

    def is_free(self, start: dt.datetime, end: dt.datetime) -> bool:
        i = bisect_right(self.starts, start) - 1
        if i >= 0 and self.blocks[i][1] > start:
            return False
        return i + 1 >= len(self.blocks) or self.blocks[i + 1][0] >= end

    def covers(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether one block holds the whole of [start, end) (used with shifts)."""
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and self.blocks[i][1] >= end


def grid_starts(window: Interval, length: dt.timedelta, grid: dt.timedelta, anchor: dt.datetime, earliest: dt.datetime | None = None) -> list[dt.datetime]:
    """Starts on the grid from `anchor` whose block of `length` fits in `window`, not before `earliest`."""
    lower = window[0] if earliest is None else max(window[0], earliest)
    steps = -((anchor - lower) // grid)  # ceil((lower - anchor) / grid)
    start = anchor + steps * grid
    found = []
    while start + length <= window[1]:
        found.append(start)
        start += grid
    return found


def on_grid(start: dt.datetime, grid: dt.timedelta, anchor: dt.datetime) -> bool:
    return (start - anchor) % grid == dt.timedelta(0)


@dataclass(frozen=True)
class Slot:
    start: dt.datetime
    end: dt.datetime
    # Who is free for it, the least booked first (the one "any technician" would get).
    technician_ids: tuple[int, ...]


@dataclass
class TechnicianDay:
    technician_id: int
    shifts: Sequence[Interval]
    blocks: Sequence[Interval] = ()
    bookings: int = 0  # how many bookings the technician has that day, for "least booked"
    _shifts: Busy = field(init=False, repr=False)
    _busy: Busy = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._shifts = Busy(self.shifts)
        self._busy = Busy(self.blocks)

    def can_take(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self._shifts.covers(start, end) and self._busy.is_free(start, end)


def free_slots(
    technicians: Sequence[TechnicianDay], *, duration: dt.timedelta, buffer: dt.timedelta, grid: dt.timedelta, anchor: dt.datetime,
    earliest: dt.datetime, resources: Sequence[Sequence[Interval]] | None = None,
) -> list[Slot]:
    """Every free start of the day for the technicians given, each with who is free for it.
    `resources`: None when the service needs none, else the blocks of each resource of its kind
    (an empty list: the store has none, so nothing is free)."""
    block = duration + buffer
    rooms = None if resources is None else [Busy(r) for r in resources]
    ranked = sorted(technicians, key=lambda t: (t.bookings, t.technician_id))
    candidates: set[dt.datetime] = set()
    for tech in ranked:
        for shift in tech._shifts.blocks:
            candidates.update(grid_starts(shift, block, grid, anchor, earliest))
    slots = []
    for start in sorted(candidates):
        end = start + block
        if rooms is not None and not any(r.is_free(start, end) for r in rooms):
            continue
        free = tuple(t.technician_id for t in ranked if t.can_take(start, end))
        if free:
            slots.append(Slot(start, start + duration, free))
    return slots


def first_free_resource(resource_ids: Sequence[int], blocks: dict[int, Sequence[Interval]], start: dt.datetime, end: dt.datetime) -> int | None:
    for rid in resource_ids:
        if Busy(blocks.get(rid, ())).is_free(start, end):
            return rid
    return None
