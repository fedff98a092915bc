"""Technician reviews (扫码评价): after a served line, the member who was served rates its technician
once, 1-5, with tags, a comment and a recommendation, within 30 days of payment. Staff reply; a
manager hides an abusive review (kept for the audit, out of every aggregate and every customer's
sight). A recommendation earns the member the brand's reward once per line (推荐技师有奖). A review
of a line since refunded in full stays stored but leaves the aggregates; its reward stays given
(the customer did review; refunds belong to the sales area, which knows nothing of reviews)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table, Text, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import BRAND_WIDE_ROLES, Actor, Role
from domain.bookings.settings import get_settings
from domain.db import Id, UtcDateTime, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.members import points
from domain.members.points import PointsKind
from domain.sales.orders import OrderStatus, order_lines, orders
from domain.sales.pricing import ItemKind
from domain.validation import check_text

REVIEW_WINDOW = dt.timedelta(days=30)
MAX_TAGS = 5
# The Bayesian average: PRIOR_WEIGHT imaginary reviews at the brand's mean (DEFAULT_MEAN before any).
PRIOR_WEIGHT = 5
DEFAULT_MEAN = Decimal(4)

technician_reviews = Table(
    "technician_reviews",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False),
    Column("order_line_id", Id, ForeignKey("order_lines.id"), nullable=False, unique=True),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=False, index=True),
    Column("rating", Integer, nullable=False),
    Column("tags", Text, nullable=False, default="[]"),
    Column("comment", String(500), nullable=True),
    Column("recommend", Boolean, nullable=False, default=False),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("hidden_reason", String(200), nullable=True),
    Column("reply", String(500), nullable=True),
    Column("replied_by", Id, ForeignKey("staff.id"), nullable=True),
    Column("replied_at", UtcDateTime(), nullable=True),
    created_at_column(),
    CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
)

SERVED = (OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value)


def counted():
    """Reviews in the aggregates: not hidden, of a line not refunded in full (join order_lines)."""
    return and_(technician_reviews.c.hidden == False, order_lines.c.refunded_quantity < order_lines.c.quantity)  # noqa: E712


def reviewable(line, order, reviewed: set[int], now: dt.datetime) -> bool:
    return (
        line.kind == ItemKind.SERVICE.value and line.technician_id is not None and order.status in SERVED and line.refunded_quantity < line.quantity
        and order.paid_at is not None and now - order.paid_at <= REVIEW_WINDOW and line.id not in reviewed
    )


async def review(
    db: AsyncConnection, *, brand_id: int, member_id: int, line_id: int, rating: int, tags: list[str], comment: str | None, recommend: bool,
    now: dt.datetime | None = None,
) -> int:
    now = now or utcnow()
    found = (await db.execute(select(order_lines, orders.c.member_id, orders.c.brand_id, orders.c.status.label("order_status"),
                                     orders.c.paid_at, orders.c.store_id).join(orders, orders.c.id == order_lines.c.order_id)
                              .where(order_lines.c.id == line_id))).first()
    if found is None or found.brand_id != brand_id or found.member_id != member_id:
        raise DomainError("NOT_FOUND", "orderLineId", what="服务项目")
    if found.kind != ItemKind.SERVICE.value or found.technician_id is None or found.order_status not in SERVED or found.refunded_quantity >= found.quantity:
        raise DomainError("NOT_REVIEWABLE", "orderLineId")
    if found.paid_at is None or now - found.paid_at > REVIEW_WINDOW:
        raise DomainError("REVIEW_WINDOW_CLOSED", "orderLineId", days=REVIEW_WINDOW.days)
    if isinstance(rating, bool) or not 1 <= rating <= 5:
        raise DomainError("INVALID_VALUE", "rating", what="评分（1-5）")
    if len(tags) > MAX_TAGS:
        raise DomainError("TOO_MANY", "tags", what="标签", max=MAX_TAGS)
    clean_tags = sorted({check_text(t, f"tags.{i}", "标签", 10) for i, t in enumerate(tags)})
    comment = check_text(comment, "comment", "评价内容", 500, required=False) or None
    review_id = (await db.execute(insert_ignoring_conflicts(db, technician_reviews).values(
        brand_id=brand_id, store_id=found.store_id, order_id=found.order_id, order_line_id=line_id, member_id=member_id,
        technician_id=found.technician_id, rating=rating, tags=json.dumps(clean_tags, ensure_ascii=False), comment=comment,
        recommend=bool(recommend), hidden=False, created_at=now,
    ).returning(technician_reviews.c.id))).scalar()
    if review_id is None:
        raise DomainError("ALREADY_REVIEWED", "orderLineId")
    reward = (await get_settings(db, brand_id)).review_reward_points
    if recommend and reward > 0:
        await points.change(db, brand_id=brand_id, member_id=member_id, delta=reward, kind=PointsKind.REVIEW_REWARD, order_id=found.order_id,
                            store_id=found.store_id, reference=f"review:{line_id}")
    return review_id


async def get_review(db: AsyncConnection, actor: Actor, review_id: int):
    row = (await db.execute(select(technician_reviews).where(technician_reviews.c.id == review_id))).first()
    if row is None or row.brand_id != actor.brand_id or (actor.role == Role.TECHNICIAN and row.technician_id != actor.staff_id):
        raise DomainError("NOT_FOUND", "reviewId", what="评价")
    if not actor.can_act_for_store(row.store_id):
        raise DomainError("STORE_FORBIDDEN", "reviewId")
    return row


async def reply(db: AsyncConnection, actor: Actor, *, review_id: int, text: str) -> int:
    row = await get_review(db, actor, review_id)
    text = check_text(text, "reply", "回复", 500)
    await db.execute(update(technician_reviews).where(technician_reviews.c.id == row.id).values(reply=text, replied_by=actor.staff_id, replied_at=utcnow()))
    await audit.record(db, actor, "review.reply", "review", row.id, before={"reply": row.reply}, after={"reply": text}, store_id=row.store_id)
    return row.id


async def hide(db: AsyncConnection, actor: Actor, *, review_id: int, reason: str) -> int:
    row = await get_review(db, actor, review_id)
    reason = check_text(reason, "reason", "隐藏原因", 200)
    await db.execute(update(technician_reviews).where(technician_reviews.c.id == row.id).values(hidden=True, hidden_reason=reason))
    await audit.record(db, actor, "review.hide", "review", row.id, before={"hidden": row.hidden}, after={"hidden": True, "reason": reason}, store_id=row.store_id)
    return row.id


async def list_reviews(db: AsyncConnection, actor: Actor, *, store_id: int | None, technician_id: int | None, limit: int = 100) -> list:
    """Newest first; a technician sees only their own, store-bound staff their store's."""
    stmt = select(technician_reviews).where(technician_reviews.c.brand_id == actor.brand_id)
    if actor.role == Role.TECHNICIAN:
        technician_id = actor.staff_id
    if store_id is not None:
        stmt = stmt.where(technician_reviews.c.store_id == store_id)
    elif actor.role not in BRAND_WIDE_ROLES:
        stmt = stmt.where(technician_reviews.c.store_id == actor.store_id)
    if technician_id is not None:
        stmt = stmt.where(technician_reviews.c.technician_id == technician_id)
    return list(await db.execute(stmt.order_by(technician_reviews.c.id.desc()).limit(limit)))


async def reviewed_lines(db: AsyncConnection, line_ids: list[int]) -> set[int]:
    if not line_ids:
        return set()
    return set((await db.execute(select(technician_reviews.c.order_line_id).where(technician_reviews.c.order_line_id.in_(line_ids)))).scalars())


def bayesian(total: int, count: int, mean: Decimal) -> Decimal:
    """(C·m + Σ ratings) / (C + n), to two places: one 5-star review does not top the board."""
    value = (PRIOR_WEIGHT * mean + total) / Decimal(PRIOR_WEIGHT + count)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def brand_mean(db: AsyncConnection, brand_id: int) -> Decimal:
    total, count = (await db.execute(
        select(func.coalesce(func.sum(technician_reviews.c.rating), 0), func.count())
        .join(order_lines, order_lines.c.id == technician_reviews.c.order_line_id)
        .where(technician_reviews.c.brand_id == brand_id, counted())
    )).one()
    return Decimal(total) / Decimal(count) if count else DEFAULT_MEAN


async def ratings(db: AsyncConnection, brand_id: int, technician_ids: list[int], start: dt.datetime | None = None, end: dt.datetime | None = None) -> dict[int, tuple[Decimal, int, int]]:
    """(Bayesian rating, counted reviews, recommendations) per technician, over [start, end) if given."""
    mean = await brand_mean(db, brand_id)
    stmt = (select(technician_reviews.c.technician_id, func.sum(technician_reviews.c.rating), func.count(),
                   func.sum(func.cast(technician_reviews.c.recommend, Integer)))
            .join(order_lines, order_lines.c.id == technician_reviews.c.order_line_id)
            .where(technician_reviews.c.technician_id.in_(technician_ids), counted()).group_by(technician_reviews.c.technician_id))
    if start is not None:
        stmt = stmt.where(technician_reviews.c.created_at >= start, technician_reviews.c.created_at < end)
    found = {t: (bayesian(0, 0, mean), 0, 0) for t in technician_ids}
    for tid, total, count, recommended in await db.execute(stmt):
        found[tid] = (bayesian(int(total), int(count), mean), int(count), int(recommended or 0))
    return found
