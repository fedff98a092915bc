"""Consent (DESIGN.md §6): WeChat lets a message through only once per accepted request, so each
ACCEPT the mini-program reports adds one to the member's quota of that template, each message
sent spends one, and a REJECT or BAN is remembered. Per kind, a customer may also turn reminders off."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, UtcDateTime, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.notifications.templates import Kind, notification_templates

MAX_RESULTS = 20
# A customer tapping "always allow" reports an accept on every request; beyond this the count says nothing more.
MAX_QUOTA = 1000


class Subscription(enum.StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    BAN = "BAN"


notification_quotas = Table(
    "notification_quotas",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("template_id", String(128), nullable=False),
    Column("remaining", Integer, nullable=False, default=0),
    Column("last_status", String(10), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    created_at_column(),
    UniqueConstraint("member_id", "template_id"),
    CheckConstraint("remaining >= 0", name="remaining"),
)

notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("id", Id, primary_key=True),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("enabled", Boolean, nullable=False),
    created_at_column(),
    UniqueConstraint("member_id", "kind"),
)


async def report(db: AsyncConnection, *, brand_id: int, member_id: int, results: list[tuple[str, Subscription]]) -> list:
    """What wx.requestSubscribeMessage answered; returns the member's quotas of the templates named."""
    if not results:
        raise DomainError("REQUIRED", "results", what="订阅结果")
    if len(results) > MAX_RESULTS:
        raise DomainError("TOO_MANY", "results", what="订阅结果", max=MAX_RESULTS)
    known = set((await db.execute(select(notification_templates.c.template_id).where(notification_templates.c.brand_id == brand_id))).scalars())
    now = utcnow()
    for i, (template_id, status) in enumerate(results):
        if template_id not in known:
            raise DomainError("NOT_FOUND", f"results.{i}.templateId", what="消息模板")
        await db.execute(insert_ignoring_conflicts(db, notification_quotas).values(
            brand_id=brand_id, member_id=member_id, template_id=template_id, remaining=0, last_status=status.value, updated_at=now, created_at=now))
        q = notification_quotas.c
        values: dict = {"last_status": status.value, "updated_at": now}
        if status == Subscription.ACCEPT:
            values["remaining"] = q.remaining + 1
            await db.execute(update(notification_quotas).where(q.member_id == member_id, q.template_id == template_id, q.remaining < MAX_QUOTA).values(**values))
            values.pop("remaining")
        await db.execute(update(notification_quotas).where(q.member_id == member_id, q.template_id == template_id).values(**values))
    return await quotas(db, member_id, [t for t, _ in results])


async def quotas(db: AsyncConnection, member_id: int, template_ids: list[str] | None = None) -> list:
    q = select(notification_quotas).where(notification_quotas.c.member_id == member_id)
    if template_ids is not None:
        q = q.where(notification_quotas.c.template_id.in_(template_ids))
    return list(await db.execute(q.order_by(notification_quotas.c.template_id)))


async def spend(db: AsyncConnection, member_id: int, template_id: str) -> bool:
    """One quota, if there is one: a conditional update, so two workers cannot spend the same one."""
    q = notification_quotas.c
    result = await db.execute(update(notification_quotas).where(q.member_id == member_id, q.template_id == template_id, q.remaining > 0)
                              .values(remaining=q.remaining - 1, updated_at=utcnow()))
    return result.rowcount == 1


async def give_back(db: AsyncConnection, member_id: int, template_id: str) -> None:
    q = notification_quotas.c
    await db.execute(update(notification_quotas).where(q.member_id == member_id, q.template_id == template_id).values(remaining=q.remaining + 1, updated_at=utcnow()))


async def zero(db: AsyncConnection, member_id: int, template_id: str) -> None:
    q = notification_quotas.c
    await db.execute(update(notification_quotas).where(q.member_id == member_id, q.template_id == template_id).values(remaining=0, updated_at=utcnow()))


async def set_preference(db: AsyncConnection, *, member_id: int, kind: Kind, enabled: bool) -> None:
    p = notification_preferences.c
    inserted = await db.execute(insert_ignoring_conflicts(db, notification_preferences).values(member_id=member_id, kind=kind.value, enabled=enabled, created_at=utcnow()))
    if inserted.rowcount == 0:
        await db.execute(update(notification_preferences).where(p.member_id == member_id, p.kind == kind.value).values(enabled=enabled))


async def enabled(db: AsyncConnection, member_id: int, kind: str) -> bool:
    p = notification_preferences.c
    value = await db.scalar(select(p.enabled).where(p.member_id == member_id, p.kind == kind))
    return True if value is None else bool(value)


async def preferences(db: AsyncConnection, member_id: int) -> dict[str, bool]:
    p = notification_preferences.c
    stored = dict((await db.execute(select(p.kind, p.enabled).where(p.member_id == member_id))).all())
    return {k.value: bool(stored.get(k.value, True)) for k in Kind}
