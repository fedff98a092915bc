"""A brand's rules for sending (DESIGN.md §6): the mini-program state and language WeChat opens,
quiet hours in the store's time, a per-member daily cap, retries, and when the time-bound reminders
fall due. A brand without a row has the defaults below."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError

MINIPROGRAM_STATES = ("formal", "trial", "developer")
LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")

notification_settings = Table(
    "notification_settings",
    metadata,
    Column("brand_id", Id, ForeignKey("brands.id"), primary_key=True),
    Column("miniprogram_state", String(10), nullable=False),
    Column("lang", String(10), nullable=False),
    Column("quiet_hours", Boolean, nullable=False),
    Column("quiet_start", String(5), nullable=False),
    Column("quiet_end", String(5), nullable=False),
    Column("daily_cap", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("count_card_expiry_days", Integer, nullable=False),
    Column("on_account_due_days", Integer, nullable=False),
    created_at_column(),
    CheckConstraint("daily_cap >= 1 AND max_attempts >= 1", name="limits"),
)


@dataclass(frozen=True)
class SendRules:
    miniprogram_state: str = "formal"
    lang: str = "zh_CN"
    quiet_hours: bool = True
    quiet_start: str = "22:00"
    quiet_end: str = "08:00"
    daily_cap: int = 5
    max_attempts: int = 5
    count_card_expiry_days: int = 7
    on_account_due_days: int = 30

    def quiet_until(self, now: dt.datetime, tz: dt.tzinfo) -> dt.datetime | None:
        """When quiet hours end, if `now` falls inside them; else None."""
        if not self.quiet_hours:
            return None
        local = now.astimezone(tz)
        start, end = _clock(self.quiet_start), _clock(self.quiet_end)
        t = local.time().replace(tzinfo=None)
        inside = (start <= t or t < end) if start > end else (start <= t < end)
        if not inside:
            return None
        day = local.date() if t < end else local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, end, tzinfo=tz).astimezone(dt.UTC)


def _clock(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


async def rules(db: AsyncConnection, brand_id: int) -> SendRules:
    row = (await db.execute(select(notification_settings).where(notification_settings.c.brand_id == brand_id))).first()
    if row is None:
        return SendRules()
    return SendRules(**{f.name: getattr(row, f.name) for f in fields(SendRules)})


def _check(new: SendRules) -> None:
    if new.miniprogram_state not in MINIPROGRAM_STATES:
        raise DomainError("INVALID_VALUE", "miniprogramState", what="小程序版本（formal/trial/developer）")
    if new.lang not in LANGS:
        raise DomainError("INVALID_VALUE", "lang", what="语言")
    for name in ("quiet_start", "quiet_end"):
        try:
            _clock(getattr(new, name))
        except (TypeError, ValueError):
            raise DomainError("INVALID_VALUE", "quietStart" if name == "quiet_start" else "quietEnd", what="时间（HH:MM）") from None
    for name, field, low, high in (("daily_cap", "dailyCap", 1, 50), ("max_attempts", "maxAttempts", 1, 20),
                                   ("count_card_expiry_days", "countCardExpiryDays", 1, 90), ("on_account_due_days", "onAccountDueDays", 1, 365)):
        value = getattr(new, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise DomainError("INVALID_VALUE", field, what=f"{field}（{low}-{high}）")


async def update_rules(db: AsyncConnection, actor: Actor | None, brand_id: int, **changes) -> SendRules:
    before = await rules(db, brand_id)
    new = replace(before, **{k: v for k, v in changes.items() if v is not None})
    _check(new)
    values = {f.name: getattr(new, f.name) for f in fields(SendRules)}
    inserted = await db.execute(insert_ignoring_conflicts(db, notification_settings).values(brand_id=brand_id, created_at=utcnow(), **values))
    if inserted.rowcount == 0:
        await db.execute(update(notification_settings).where(notification_settings.c.brand_id == brand_id).values(**values))
    if actor is not None:
        await audit.record(db, actor, "notification.settings", "brand", brand_id, after=values)
    return new
