"""A store's business day: local dates, ISO weeks and day bounds in the store's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def business_day(now: dt.datetime, tz_name: str) -> tuple[str, str]:
    local = now.astimezone(ZoneInfo(tz_name))
    year, week, _ = local.isocalendar()
    return local.date().isoformat(), f"{year}-W{week:02d}"


def day_bounds(day: dt.date, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(tz_name)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)
