"""The brand's booking rules: the grid of starts, the notice period, how late a customer may cancel,
when a customer's booking waits for staff confirmation, the reward for recommending a technician.
One row per brand, made on first change; a brand without one has the defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from sqlalchemy import Column, ForeignKey, Integer, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError

booking_settings = Table(
    "booking_settings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False, unique=True),
    Column("slot_minutes", Integer, nullable=False, default=15),
    Column("notice_minutes", Integer, nullable=False, default=60),
    Column("customer_cancel_hours", Integer, nullable=False, default=2),
    # A customer with at least this many no-shows books PENDING until the desk confirms; None: never.
    Column("confirm_after_no_shows", Integer, nullable=True),
    Column("review_reward_points", Integer, nullable=False, default=10),
    created_at_column(),
)


@dataclass(frozen=True)
class BookingSettings:
    slot_minutes: int = 15
    notice_minutes: int = 60
    customer_cancel_hours: int = 2
    confirm_after_no_shows: int | None = None
    review_reward_points: int = 10


# field: (lowest, highest, what the error names)
LIMITS = {
    "slot_minutes": (5, 120, "预约时间粒度（5-120分钟）"),
    "notice_minutes": (0, 7 * 24 * 60, "提前预约时间（0-10080分钟）"),
    "customer_cancel_hours": (0, 7 * 24, "顾客可取消时限（0-168小时）"),
    "confirm_after_no_shows": (1, 100, "需确认的爽约次数（1-100）"),
    "review_reward_points": (0, 100_000, "推荐奖励积分（0-100000）"),
}
FIELD_NAMES = {"slot_minutes": "slotMinutes", "notice_minutes": "noticeMinutes", "customer_cancel_hours": "customerCancelHours",
               "confirm_after_no_shows": "confirmAfterNoShows", "review_reward_points": "reviewRewardPoints"}


async def get_settings(db: AsyncConnection, brand_id: int) -> BookingSettings:
    row = (await db.execute(select(booking_settings).where(booking_settings.c.brand_id == brand_id))).first()
    if row is None:
        return BookingSettings()
    return BookingSettings(**{f.name: getattr(row, f.name) for f in fields(BookingSettings)})


async def update_settings(db: AsyncConnection, actor: Actor, *, changes: dict, clear_confirm: bool = False) -> BookingSettings:
    """Change the named settings (None leaves one as it is; `clear_confirm` turns confirmation off)."""
    values = {k: v for k, v in changes.items() if v is not None}
    for name, value in values.items():
        low, high, what = LIMITS[name]
        if isinstance(value, bool) or not low <= value <= high:
            raise DomainError("INVALID_VALUE", FIELD_NAMES[name], what=what)
    if "slot_minutes" in values and 60 % values["slot_minutes"] and values["slot_minutes"] % 60:
        raise DomainError("INVALID_VALUE", "slotMinutes", what="预约时间粒度（须整除60分钟）")
    if clear_confirm:
        values["confirm_after_no_shows"] = None
    before = await get_settings(db, actor.brand_id)
    await db.execute(insert_ignoring_conflicts(db, booking_settings).values(brand_id=actor.brand_id, **asdict(BookingSettings()), created_at=utcnow()))
    if values:
        await db.execute(update(booking_settings).where(booking_settings.c.brand_id == actor.brand_id).values(**values))
        await audit.record(db, actor, "booking.settings", "brand", actor.brand_id,
                           before={k: getattr(before, k) for k in values}, after=values)
    return await get_settings(db, actor.brand_id)
