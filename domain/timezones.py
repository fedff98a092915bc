"""A store's business day: local dates, ISO weeks and day bounds in the store's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from domain.errors import DomainError

# Business days a report may ask about: 0001-01-01 or 9999-12-31 would overflow a datetime in
# the store's time zone, and no salon's books reach outside these.
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


def business_day(now: dt.datetime, tz_name: str) -> tuple[str, str]:
    local = now.astimezone(ZoneInfo(tz_name))
    year, week, _ = local.isocalendar()
    return local.date().isoformat(), f"{year}-W{week:02d}"


def day_bounds(day: dt.date, tz_name: str, field: str | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants a local business day starts and ends at; a day outside the books
    (FIRST_DAY..LAST_DAY) is refused, since year 1 or 9999 cannot be moved across time zones."""
    check_day(day, field)
    tz = ZoneInfo(tz_name)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def check_day(day: dt.date, field: str | None) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise DomainError("INVALID_VALUE", field, what=f"日期（{FIRST_DAY}至{LAST_DAY}）")
