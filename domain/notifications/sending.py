"""The worker's side of a notification, as database steps around the one HTTP call (DESIGN.md §6).

    claim   (one transaction): due PENDING rows, FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite's
            BEGIN IMMEDIATE serialises); each is skipped with a reason, postponed (quiet hours, the
            daily cap) or CLAIMED with one quota spent and its request rendered.
    sending (commits before the call): CLAIMED → SENDING.
    record  : SENDING → SENT / FAILED / PENDING again (retry) / UNKNOWN, with the platform's answer.
    recover : a CLAIMED row older than the lease never left (quota given back, PENDING again); a
            SENDING row older than the lease may have been delivered, so it becomes UNKNOWN.

So a row is never lost when a worker dies, and never sent twice: only a row that provably did not
reach the platform is tried again."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.brands.stores import brands, stores
from domain.db import utcnow
from domain.errors import DomainError
from domain.members.customers import customer_identities
from domain.notifications import consent, settings
from domain.notifications.consent import notification_quotas
from domain.notifications.reminders import Status, notifications, still_relevant
from domain.notifications.templates import Platform, render, template_for
from domain.timezones import day_bounds

log = logging.getLogger("meiye.notifications")
LEASE = dt.timedelta(minutes=5)
# WeChat's answers that say the message itself is wrong: never retried, the quota given back.
PERMANENT = {47003: "模板参数不准确", 41030: "page路径不正确", 40037: "模板ID不正确", 40003: "openid不正确", 43107: "订阅消息能力封禁"}
NO_QUOTA_THERE = 43101
RETRYABLE = {45009, -1}
BACKOFF = dt.timedelta(minutes=1)
MAX_BACKOFF = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Claimed:
    id: int
    brand_id: int
    platform: str
    app_id: str
    open_id: str
    template_id: str
    page: str | None
    data: dict
    miniprogram_state: str
    lang: str


@dataclass(frozen=True)
class Answer:
    """What the platform said: `delivered` True (errcode 0), False (refused or provably not
    reached: `errcode` None means unreachable), or None when nobody can tell."""

    delivered: bool | None
    errcode: int | None = None
    message: str = ""
    raw: str | None = None


async def _tz(db: AsyncConnection, row) -> str:
    if row.store_id is not None:
        found = (await db.execute(select(stores.c.timezone, brands.c.timezone.label("brand_tz")).join(brands, brands.c.id == stores.c.brand_id)
                                  .where(stores.c.id == row.store_id))).first()
        if found is not None:
            return found.timezone or found.brand_tz
    return await db.scalar(select(brands.c.timezone).where(brands.c.id == row.brand_id)) or "Asia/Shanghai"


async def _set(db: AsyncConnection, row_id: int, expect: Status | tuple[Status, ...], **values) -> bool:
    expected = (expect,) if isinstance(expect, Status) else expect
    result = await db.execute(update(notifications).where(notifications.c.id == row_id, notifications.c.status.in_([s.value for s in expected])).values(**values))
    return result.rowcount == 1


async def _destination(db: AsyncConnection, row):
    """The member's identity and the brand's template for this kind: WeChat first, then Alipay."""
    for platform in (Platform.WECHAT, Platform.ALIPAY):
        template = await template_for(db, row.brand_id, platform, row.kind)
        if template is None:
            continue
        identity = (await db.execute(select(customer_identities).where(
            customer_identities.c.member_id == row.member_id, customer_identities.c.channel == platform.value).order_by(customer_identities.c.id.desc()))).first()
        if identity is not None:
            return platform, template, identity
    return None


async def _sent_today(db: AsyncConnection, member_id: int, tz: str, now: dt.datetime) -> tuple[int, dt.datetime]:
    start, end = day_bounds(now.astimezone(ZoneInfo(tz)).date(), tz)
    n = notifications.c
    count = await db.scalar(select(func.count()).select_from(notifications).where(
        n.member_id == member_id, n.claimed_at >= start, n.status.in_([Status.CLAIMED.value, Status.SENDING.value, Status.SENT.value, Status.UNKNOWN.value])))
    return count or 0, end


async def _no_quota_reason(db: AsyncConnection, member_id: int, template_id: str) -> str:
    q = notification_quotas.c
    last = await db.scalar(select(q.last_status).where(q.member_id == member_id, q.template_id == template_id))
    return {"REJECT": "REJECTED", "BAN": "BANNED"}.get(last, "NO_QUOTA")


async def _decide(db: AsyncConnection, row, now: dt.datetime) -> Claimed | str:
    """The row claimed, or what happened instead: "SKIPPED" or "POSTPONED"."""

    async def skip(reason: str) -> str:
        await _set(db, row.id, Status.PENDING, status=Status.SKIPPED.value, last_error=reason)
        return "SKIPPED"

    if not await consent.enabled(db, row.member_id, row.kind):
        return await skip("TURNED_OFF")
    found = await _destination(db, row)
    if found is None:
        return await skip("NO_TEMPLATE_OR_IDENTITY")
    platform, template, identity = found
    values = json.loads(row.values)
    if (reason := await still_relevant(db, row, values)) is not None:
        return await skip(reason)
    rules = await settings.rules(db, row.brand_id)
    tz = await _tz(db, row)
    if (later := rules.quiet_until(now, ZoneInfo(tz))) is not None:
        await _set(db, row.id, Status.PENDING, due_at=later)
        return "POSTPONED"
    count, tomorrow = await _sent_today(db, row.member_id, tz, now)
    if count >= rules.daily_cap:
        await _set(db, row.id, Status.PENDING, due_at=rules.quiet_until(tomorrow, ZoneInfo(tz)) or tomorrow)
        return "POSTPONED"
    if not await consent.spend(db, row.member_id, template.template_id):
        return await skip(await _no_quota_reason(db, row.member_id, template.template_id))
    data = render(row.kind, [tuple(f) for f in json.loads(template.fields)], values, tz)
    claimed = Claimed(row.id, row.brand_id, platform.value, identity.app_id, identity.open_id, template.template_id, template.page, data,
                      rules.miniprogram_state, rules.lang)
    await _set(db, row.id, Status.PENDING, status=Status.CLAIMED.value, claimed_at=now, attempts=row.attempts + 1, platform=platform.value,
               template_id=template.template_id, open_id=identity.open_id,
               request=json.dumps({"page": template.page, "data": data, "app_id": identity.app_id, "miniprogram_state": rules.miniprogram_state,
                                   "lang": rules.lang}, ensure_ascii=False))
    return claimed


async def claim(db: AsyncConnection, *, now: dt.datetime | None = None, limit: int = 50, counts: dict | None = None) -> list[Claimed]:
    """Up to `limit` due rows decided; `counts` (if given) tallies the skipped and postponed."""
    now = now or utcnow()
    n = notifications.c
    q = select(notifications).where(n.status == Status.PENDING.value, n.due_at <= now).order_by(n.due_at, n.id).limit(limit)
    if db.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    out = []
    for row in list(await db.execute(q)):
        try:
            async with db.begin_nested():
                decided = await _decide(db, row, now)
        except Exception:  # noqa: BLE001 - one row we cannot prepare (a bug) must not stop every other row
            log.exception("notification %s could not be prepared", row.id)
            await _set(db, row.id, Status.PENDING, status=Status.FAILED.value, last_error="INTERNAL: could not be prepared; see the worker's log")
            decided = "FAILED"
        if isinstance(decided, Claimed):
            out.append(decided)
        elif counts is not None:
            counts[decided.lower()] = counts.get(decided.lower(), 0) + 1
    return out


async def mark_sending(db: AsyncConnection, claimed: Claimed) -> bool:
    return await _set(db, claimed.id, Status.CLAIMED, status=Status.SENDING.value)


def _backoff(attempts: int) -> dt.timedelta:
    return min(BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


async def record(db: AsyncConnection, claimed: Claimed, answer: Answer, *, now: dt.datetime | None = None) -> Status:
    """What became of the send; the quota is given back whenever the message did not go out."""
    now = now or utcnow()
    row = (await db.execute(select(notifications).where(notifications.c.id == claimed.id))).one()
    if row.status != Status.SENDING.value:
        return Status(row.status)
    error = f"{answer.errcode}: {answer.message}"[:300] if answer.errcode is not None else answer.message[:300]
    common = {"response": answer.raw}
    if answer.delivered:
        status, values = Status.SENT, {"sent_at": now, "last_error": None}
    elif answer.delivered is None:
        status, values = Status.UNKNOWN, {"last_error": error or "NO_ANSWER"}
    elif answer.errcode == NO_QUOTA_THERE:
        await consent.zero(db, row.member_id, claimed.template_id)
        status, values = Status.FAILED, {"last_error": error}
    elif (answer.errcode is None or answer.errcode in RETRYABLE) and row.attempts < (await settings.rules(db, row.brand_id)).max_attempts:
        await consent.give_back(db, row.member_id, claimed.template_id)
        status, values = Status.PENDING, {"last_error": error, "due_at": now + _backoff(row.attempts)}
    else:
        await consent.give_back(db, row.member_id, claimed.template_id)
        status, values = Status.FAILED, {"last_error": error}
    await _set(db, claimed.id, Status.SENDING, status=status.value, **common, **values)
    return status


async def recover(db: AsyncConnection, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Rows a dead worker left behind: CLAIMED ones go back (they never left), SENDING ones become UNKNOWN."""
    now = now or utcnow()
    n = notifications.c
    stale = list(await db.execute(select(notifications).where(n.status.in_([Status.CLAIMED.value, Status.SENDING.value]), n.claimed_at < now - LEASE)))
    counts = {"requeued": 0, "unknown": 0}
    for row in stale:
        if row.status == Status.CLAIMED.value:
            if await _set(db, row.id, Status.CLAIMED, status=Status.PENDING.value, attempts=max(row.attempts - 1, 0)):
                await consent.give_back(db, row.member_id, row.template_id)
                counts["requeued"] += 1
        elif await _set(db, row.id, Status.SENDING, status=Status.UNKNOWN.value,
                        last_error="SEND_INTERRUPTED: the worker stopped before WeChat's answer was recorded; check before resending"):
            counts["unknown"] += 1
    return counts


async def resend(db: AsyncConnection, *, brand_id: int, notification_id: int, now: dt.datetime | None = None):
    """Staff send a FAILED (or UNKNOWN, once they have checked) notification again, if the customer has quota."""
    row = (await db.execute(select(notifications).where(notifications.c.id == notification_id))).first()
    if row is None or row.brand_id != brand_id:
        raise DomainError("NOT_FOUND", "notificationId", what="通知")
    if row.status not in (Status.FAILED.value, Status.UNKNOWN.value, Status.SKIPPED.value):
        raise DomainError("NOTIFICATION_NOT_RESENDABLE", "notificationId", status=row.status)
    found = await _destination(db, row)
    remaining = 0
    if found is not None:
        q = notification_quotas.c
        remaining = await db.scalar(select(q.remaining).where(q.member_id == row.member_id, q.template_id == found[1].template_id)) or 0
    if remaining <= 0:
        raise DomainError("NOTIFICATION_NO_QUOTA", "notificationId")
    await _set(db, row.id, Status(row.status), status=Status.PENDING.value, due_at=now or utcnow(), attempts=0, claimed_at=None)
    return (await db.execute(select(notifications).where(notifications.c.id == notification_id))).one()


async def verify(db: AsyncConnection):
    """A sent notification records when and to whom; a quota never exceeds what was accepted."""
    from domain.ledger.verify import Check

    n = notifications.c
    total = await db.scalar(select(func.count()).select_from(notifications)) or 0
    bad = list(await db.execute(select(n.id, n.status).where(
        ((n.status == Status.SENT.value) & (n.sent_at.is_(None) | n.open_id.is_(None) | n.template_id.is_(None)))
        | (n.status.in_([Status.CLAIMED.value, Status.SENDING.value]) & n.claimed_at.is_(None))
        | n.status.not_in([s.value for s in Status]))))
    return [Check("every sent notification has its time, recipient and template; every claim its time", total,
                  [f"notification {i}: {s}" for i, s in bad])]
