"""Issuing coupons (发券) to members: by staff, in bulk to a segment or campaign, on registration, on
a first top-up, for points, as a visit reward or a referral's reward.

Every coupon has a code from `secrets` (unguessable, unique by constraint) and a validity fixed at
issue. A `batch_key` (`campaign:12`) allows at most one coupon per member per key, enforced by a
unique constraint, so a bulk issue can be retried or resumed and issues each member once. The
template's per-member and total limits are conditional updates of counters in the caller's
transaction: concurrent issues never pass them. Each coupon issued queues `coupon.issued` and a
`coupon.expiring` reminder in the outbox.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import outbox
from domain.actor import Actor
from domain.brands.stores import brands, stores
from domain.coupons.templates import Template, coupon_templates, get_template
from domain.db import Id, UtcDateTime, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.members.members import members
from domain.timezones import business_day, day_bounds

# No 0/O, 1/I/L: read aloud and typed at the desk. 12 of 31 symbols is about 59 bits.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
MAX_MEMBERS_PER_CALL = 10_000
EXPIRY_REMINDER = dt.timedelta(days=3)


class CouponSource(enum.StrEnum):
    STAFF = "STAFF"
    SEGMENT = "SEGMENT"
    CAMPAIGN = "CAMPAIGN"
    REGISTRATION = "REGISTRATION"
    FIRST_TOP_UP = "FIRST_TOP_UP"
    POINTS = "POINTS"
    VISIT_REWARD = "VISIT_REWARD"
    REFERRAL = "REFERRAL"


class CouponStatus(enum.StrEnum):
    ISSUED = "ISSUED"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"  # never stored: an ISSUED coupon past its validity reads as EXPIRED
    VOID = "VOID"


class SkipReason(enum.StrEnum):
    MEMBER_NOT_FOUND = "MEMBER_NOT_FOUND"
    ALREADY_ISSUED = "ALREADY_ISSUED"  # this batch already gave the member one
    PER_MEMBER_LIMIT = "PER_MEMBER_LIMIT"
    TOTAL_LIMIT = "TOTAL_LIMIT"


coupons = Table(
    "coupons",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("template_id", Id, ForeignKey("coupon_templates.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("code", String(20), nullable=False, unique=True),
    Column("status", String(20), nullable=False),
    Column("source", String(20), nullable=False),
    Column("batch_key", String(120), nullable=True),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_to", UtcDateTime(), nullable=False),  # exclusive
    Column("issued_by", Id, ForeignKey("staff.id"), nullable=True),
    # Redemption: the order, its store, what the coupon took off, when.
    Column("order_id", Id, ForeignKey("orders.id"), nullable=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("discount", Id, nullable=False, default=0),
    Column("redeemed_at", UtcDateTime(), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "batch_key", "member_id"),
    Index("ix_coupons_member_id_status", "member_id", "status"),
    Index("ix_coupons_order_id", "order_id"),
)

# Per member and template: how many were issued and redeemed, the counters the per-member limit guards.
coupon_member_counts = Table(
    "coupon_member_counts",
    metadata,
    Column("template_id", Id, ForeignKey("coupon_templates.id"), primary_key=True),
    Column("member_id", Id, ForeignKey("members.id"), primary_key=True),
    Column("issued", Integer, nullable=False, default=0),
    Column("redeemed", Integer, nullable=False, default=0),
)


@dataclass(frozen=True)
class IssuedCoupon:
    id: int
    code: str
    member_id: int
    valid_to: dt.datetime


@dataclass
class IssueResult:
    issued: list[IssuedCoupon] = field(default_factory=list)
    skipped_by_reason: Counter = field(default_factory=Counter)  # SkipReason -> how many members

    @property
    def skipped(self) -> int:
        return sum(self.skipped_by_reason.values())

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.issued]

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.issued]


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return "".join((code or "").split()).upper().replace("-", "")


async def issue_coupons(
    db: AsyncConnection, actor: Actor, *, template_id: int, member_ids: list[int], source: str, batch_key: str | None = None,
    now: dt.datetime | None = None,
) -> IssueResult:
    """Issue one coupon of the template to each member, in the caller's transaction. A member who
    already has this batch's coupon, or whom a limit stops, is skipped and counted by reason."""
    source = CouponSource(source)
    template = await get_template(db, actor.brand_id, template_id)
    now = now or utcnow()
    _check_batch(template, member_ids, batch_key, now)
    known = await _members_of_brand(db, actor.brand_id, member_ids)
    result = IssueResult()
    seen: set[int] = set()
    for member_id in member_ids:
        if member_id in seen:
            continue
        seen.add(member_id)
        if member_id not in known:
            result.skipped_by_reason[SkipReason.MEMBER_NOT_FOUND] += 1
            continue
        issued = await _issue_one(db, actor, template, member_id, known[member_id], source, batch_key, now)
        if isinstance(issued, SkipReason):
            result.skipped_by_reason[issued] += 1
        else:
            result.issued.append(issued)
    return result


async def would_issue(db: AsyncConnection, actor: Actor, *, template_id: int, member_ids: list[int], batch_key: str | None) -> int:
    """How many coupons issue_coupons would issue now (the preview before a bulk issue)."""
    template = await get_template(db, actor.brand_id, template_id)
    wanted = set((await _members_of_brand(db, actor.brand_id, member_ids)).keys())
    if batch_key is not None and wanted:
        wanted -= set((await db.execute(select(coupons.c.member_id).where(
            coupons.c.brand_id == actor.brand_id, coupons.c.batch_key == batch_key, coupons.c.member_id.in_(wanted)))).scalars())
    if template.per_member_limit is not None and wanted:
        wanted -= set((await db.execute(select(coupon_member_counts.c.member_id).where(
            coupon_member_counts.c.template_id == template_id, coupon_member_counts.c.member_id.in_(wanted),
            coupon_member_counts.c.issued >= template.per_member_limit))).scalars())
    count = len(wanted)
    if template.total_limit is not None:
        count = min(count, max(0, template.total_limit - template.issued_count))
    return count


def _check_batch(template: Template, member_ids: list[int], batch_key: str | None, now: dt.datetime) -> None:
    if len(member_ids) > MAX_MEMBERS_PER_CALL:
        raise DomainError("TOO_MANY", "memberIds", what="会员", max=MAX_MEMBERS_PER_CALL)
    if batch_key is not None and not 1 <= len(batch_key) <= 120:
        raise ValueError(f"batch key must be 1-120 characters: {batch_key!r}")
    if template.valid_to is not None and template.valid_to <= now:
        raise DomainError("COUPON_TEMPLATE_EXPIRED", "templateId")


async def _members_of_brand(db: AsyncConnection, brand_id: int, member_ids: list[int]) -> dict[int, str]:
    """Each of the brand's members among `member_ids`, with the time zone of the store they joined at."""
    found: dict[int, str] = {}
    ids = list(set(member_ids))
    for start in range(0, len(ids), 1000):
        rows = await db.execute(
            select(members.c.id, func.coalesce(stores.c.timezone, brands.c.timezone))
            .join(stores, stores.c.id == members.c.registered_store_id).join(brands, brands.c.id == members.c.brand_id)
            .where(members.c.brand_id == brand_id, members.c.id.in_(ids[start:start + 1000]))
        )
        found.update(dict(rows.all()))
    return found


def validity(template: Template, now: dt.datetime, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    """When a coupon issued now is valid: the template's window, or from now to the end of the
    (validDays)th local day counting today as the first."""
    if template.valid_days is not None:
        today = dt.date.fromisoformat(business_day(now, tz_name)[0])
        return now, day_bounds(today + dt.timedelta(days=template.valid_days - 1), tz_name)[1]
    return template.valid_from or now, template.valid_to


async def _issue_one(
    db: AsyncConnection, actor: Actor, template: Template, member_id: int, tz_name: str, source: CouponSource, batch_key: str | None,
    now: dt.datetime,
) -> IssuedCoupon | SkipReason:
    valid_from, valid_to = validity(template, now, tz_name)
    coupon_id = await _insert_coupon(db, actor, template, member_id, source, batch_key, valid_from, valid_to, now)
    if coupon_id is None:
        return SkipReason.ALREADY_ISSUED
    refused = await _take_limits(db, template, member_id)
    if refused is not None:
        await db.execute(delete(coupons).where(coupons.c.id == coupon_id.id))
        return refused
    payload = {"coupon_id": coupon_id.id, "template_id": template.id, "name": template.name, "kind": template.kind,
               "source": source.value, "valid_to": valid_to.isoformat()}
    await outbox.emit(db, brand_id=actor.brand_id, kind="coupon.issued", dedupe_key=f"coupon:{coupon_id.id}:issued",
                      payload=payload, member_id=member_id)
    await schedule_expiry_reminder(db, brand_id=actor.brand_id, coupon_id=coupon_id.id, member_id=member_id, name=template.name,
                                   valid_to=valid_to, now=now)
    return IssuedCoupon(coupon_id.id, coupon_id.code, member_id, valid_to)


async def _insert_coupon(db, actor: Actor, template: Template, member_id: int, source: CouponSource, batch_key: str | None,
                         valid_from: dt.datetime, valid_to: dt.datetime, now: dt.datetime):
    """The coupon row first: the batch's unique key decides, under concurrency too, who issues it.
    None when the batch already gave this member one; a (vanishingly rare) clash of random codes
    draws a new code."""
    for _ in range(5):
        row = (await db.execute(
            insert_ignoring_conflicts(db, coupons).values(
                brand_id=actor.brand_id, template_id=template.id, member_id=member_id, code=new_code(), status=CouponStatus.ISSUED.value,
                source=source.value, batch_key=batch_key, valid_from=valid_from, valid_to=valid_to, issued_by=actor.staff_id,
                discount=0, created_at=now,
            ).returning(coupons.c.id, coupons.c.code)
        )).first()
        if row is not None:
            return row
        if batch_key is not None and await db.scalar(select(coupons.c.id).where(
                coupons.c.brand_id == actor.brand_id, coupons.c.batch_key == batch_key, coupons.c.member_id == member_id)):
            return None
    raise RuntimeError("could not draw an unused coupon code")


async def _take_limits(db: AsyncConnection, template: Template, member_id: int) -> SkipReason | None:
    """Count the issue against the template's and the member's limits, each by one conditional
    update, the template first: the order redemption takes them in too, so that concurrent issues
    and redemptions queue and never deadlock."""
    stmt = update(coupon_templates).where(coupon_templates.c.id == template.id)
    if template.total_limit is not None:
        stmt = stmt.where(coupon_templates.c.issued_count < template.total_limit)
    if (await db.execute(stmt.values(issued_count=coupon_templates.c.issued_count + 1))).rowcount != 1:
        return SkipReason.TOTAL_LIMIT
    await db.execute(insert_ignoring_conflicts(db, coupon_member_counts).values(template_id=template.id, member_id=member_id, issued=0, redeemed=0))
    stmt = update(coupon_member_counts).where(coupon_member_counts.c.template_id == template.id, coupon_member_counts.c.member_id == member_id)
    if template.per_member_limit is not None:
        stmt = stmt.where(coupon_member_counts.c.issued < template.per_member_limit)
    if (await db.execute(stmt.values(issued=coupon_member_counts.c.issued + 1))).rowcount != 1:
        await db.execute(update(coupon_templates).where(coupon_templates.c.id == template.id).values(issued_count=coupon_templates.c.issued_count - 1))
        return SkipReason.PER_MEMBER_LIMIT
    return None


async def schedule_expiry_reminder(
    db: AsyncConnection, *, brand_id: int, coupon_id: int, member_id: int, name: str, valid_to: dt.datetime, now: dt.datetime,
) -> None:
    """`coupon.expiring` three days before the end (for the notifications consumer); none when the
    coupon is shorter-lived than that: the customer was just told of it."""
    due = valid_to - EXPIRY_REMINDER
    if due > now:
        await outbox.schedule(db, brand_id=brand_id, kind="coupon.expiring", dedupe_key=f"coupon:{coupon_id}:expiring",
                              payload={"coupon_id": coupon_id, "name": name, "valid_to": valid_to.isoformat()}, due_at=due, member_id=member_id)


async def withdraw_expiry_reminder(db: AsyncConnection, *, brand_id: int, coupon_id: int) -> None:
    await outbox.withdraw(db, brand_id=brand_id, dedupe_keys=[f"coupon:{coupon_id}:expiring"])


async def void_coupons(db: AsyncConnection, *, brand_id: int, coupon_ids: list[int]) -> list[int]:
    """Take back coupons not yet used (a referral reward whose first order was refunded): they
    become VOID; one already redeemed stays as it is. Returns those voided."""
    if not coupon_ids:
        return []
    voided = list((await db.execute(
        update(coupons).where(coupons.c.brand_id == brand_id, coupons.c.id.in_(coupon_ids), coupons.c.status == CouponStatus.ISSUED.value)
        .values(status=CouponStatus.VOID.value).returning(coupons.c.id)
    )).scalars())
    for coupon_id in voided:
        await withdraw_expiry_reminder(db, brand_id=brand_id, coupon_id=coupon_id)
    return sorted(voided)
