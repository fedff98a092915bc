"""Points (积分) as a ledger of their own (DESIGN.md §4): every change is a row with its kind, the
order, store and staff behind it, a reason where a person gave one, and the points after it. The
member's `points` column is the running balance, kept equal to the sum of the rows (checked by
`meiye ledger verify`), and never below zero.

A change that must happen once (a review's reward, a referral's) carries a reference unique in the
brand: a second change with the same reference changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.ledger.verify import Check
from domain.members.members import members

MAX_ADJUSTMENT = 10_000_000


class PointsKind(enum.StrEnum):
    OPENING = "OPENING"  # what a member held before points were a ledger
    EARNED = "EARNED"  # a paid order, per yuan of real money × tier
    REFUND_REVERSAL = "REFUND_REVERSAL"  # the points a refunded sale earned, taken back
    EXCHANGED = "EXCHANGED"  # spent on a coupon
    EXCHANGE_REVERSAL = "EXCHANGE_REVERSAL"  # an exchange undone
    REFERRAL_REWARD = "REFERRAL_REWARD"
    REFERRAL_REVERSAL = "REFERRAL_REVERSAL"
    REVIEW_REWARD = "REVIEW_REWARD"  # 推荐技师有奖
    REVIEW_REVERSAL = "REVIEW_REVERSAL"
    ADJUSTMENT = "ADJUSTMENT"  # a manager's correction, with a reason


points_entries = Table(
    "points_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("delta", Id, nullable=False),
    Column("points_after", Id, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("reason", String(200), nullable=True),
    Column("reference", String(120), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "reference"),
    Index("ix_points_entries_member_id_id", "member_id", "id"),
)


@dataclass(frozen=True)
class PointsChange:
    delta: int
    points_after: int


async def change(
    db: AsyncConnection, *, brand_id: int, member_id: int, delta: int, kind: PointsKind, order_id: int | None = None,
    store_id: int | None = None, staff_id: int | None = None, reason: str | None = None, reference: str | None = None,
    at_most_what_is_left: bool = False,
) -> PointsChange | None:
    """Add `delta` (negative: take) to the member's points in the caller's transaction.

    A take larger than the balance is INSUFFICIENT_POINTS, unless `at_most_what_is_left`, where it
    takes what is there (a refund takes back what the sale earned, never below zero). Returns the
    change made, or None when `reference` was already used (nothing changed)."""
    entry_id = None
    if reference is not None:
        # The row first: the unique reference decides, under concurrency too, who makes the change.
        claimed = await db.execute(
            insert_ignoring_conflicts(db, points_entries)
            .values(brand_id=brand_id, member_id=member_id, delta=0, points_after=0, kind=kind.value, order_id=order_id,
                    store_id=store_id, staff_id=staff_id, reason=reason, reference=reference, created_at=utcnow())
            .returning(points_entries.c.id)
        )
        entry_id = claimed.scalar()
        if entry_id is None:
            return None
    if delta < 0 and at_most_what_is_left:
        current = await db.scalar(select(members.c.points).where(members.c.id == member_id).with_for_update())
        delta = -min(-delta, max(0, current or 0))
    after = await _apply(db, member_id, delta)
    values = {"delta": delta, "points_after": after}
    if entry_id is None:
        await db.execute(points_entries.insert().values(
            brand_id=brand_id, member_id=member_id, kind=kind.value, order_id=order_id, store_id=store_id, staff_id=staff_id,
            reason=reason, reference=None, created_at=utcnow(), **values))
    else:
        await db.execute(update(points_entries).where(points_entries.c.id == entry_id).values(**values))
    return PointsChange(delta, after)


async def _apply(db: AsyncConnection, member_id: int, delta: int) -> int:
    """The member's new balance; a take the balance cannot cover is refused by the same statement."""
    stmt = update(members).where(members.c.id == member_id)
    if delta < 0:
        stmt = stmt.where(members.c.points >= -delta)
    after = (await db.execute(stmt.values(points=members.c.points + delta).returning(members.c.points))).scalar()
    if after is None:
        raise DomainError("INSUFFICIENT_POINTS", "points")
    return after


async def history_pages(db: AsyncConnection, member_ids: list[int], *, first: int, before_id: int | None) -> dict[int, list]:
    """The newest `first` + 1 entries of each member (before `before_id`), newest first."""
    found: dict[int, list] = {i: [] for i in member_ids}
    if not member_ids:
        return found
    ranked = (
        select(points_entries, func.row_number().over(partition_by=points_entries.c.member_id, order_by=points_entries.c.id.desc()).label("rn"))
        .where(points_entries.c.member_id.in_(member_ids), points_entries.c.delta != 0)
    )
    if before_id is not None:
        ranked = ranked.where(points_entries.c.id < before_id)
    sub = ranked.subquery()
    for row in await db.execute(select(sub).where(sub.c.rn <= first + 1).order_by(sub.c.member_id, sub.c.id.desc())):
        found[row.member_id].append(row)
    return found


async def verify(db: AsyncConnection):
    """Each member's points equal the sum of their entries, never below zero, and each entry's
    points_after is the running sum up to it."""
    sums = select(points_entries.c.member_id, func.coalesce(func.sum(points_entries.c.delta), 0).label("total")).group_by(points_entries.c.member_id).subquery()
    mismatched = list(await db.execute(
        select(members.c.id, members.c.points, func.coalesce(sums.c.total, 0))
        .select_from(members.outerjoin(sums, sums.c.member_id == members.c.id))
        .where(members.c.points != func.coalesce(sums.c.total, 0))
    ))
    negative = list(await db.execute(select(members.c.id, members.c.points).where(members.c.points < 0)))
    running = (
        select(points_entries.c.id, points_entries.c.points_after,
               func.sum(points_entries.c.delta).over(partition_by=points_entries.c.member_id, order_by=points_entries.c.id).label("run"))
        .subquery()
    )
    broken_chain = list(await db.execute(select(running.c.id, running.c.points_after, running.c.run).where(running.c.points_after != running.c.run)))
    member_count = await db.scalar(select(func.count()).select_from(members))
    entry_count = await db.scalar(select(func.count()).select_from(points_entries))
    return [
        Check("every member's points equal the sum of their points entries", member_count,
              [f"member {m}: points {p}, entries {s}" for m, p, s in mismatched]),
        Check("no member's points are below zero", member_count, [f"member {m}: points {p}" for m, p in negative]),
        Check("every points entry's points_after is the running sum of the member's entries", entry_count,
              [f"points entry {e}: points_after {a}, running sum {r}" for e, a, r in broken_chain]),
    ]


def check_adjustment(delta: int, reason: str | None) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > MAX_ADJUSTMENT:
        raise DomainError("INVALID_VALUE", "delta", what=f"积分调整（非零，绝对值不超过{MAX_ADJUSTMENT}）")
    if not (reason or "").strip():
        raise DomainError("REQUIRED", "reason", what="调整原因")

