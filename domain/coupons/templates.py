"""Coupon templates (券模板): what a coupon takes off, where and when it applies, and how many may
be issued. Marketers create them; issuing (domain.coupons.issuing) makes coupons of them."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, UniqueConstraint, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.catalogue import services
from domain.brands.stores import brands, stores
from domain.db import Id, UtcDateTime, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.timezones import day_bounds
from domain.validation import check_amount, check_text

MAX_SCOPE = 100
MAX_VALID_DAYS = 3660
MAX_LIMIT = 10_000_000


class CouponKind(enum.StrEnum):
    THRESHOLD_OFF = "THRESHOLD_OFF"  # 满300减50
    PERCENT_OFF = "PERCENT_OFF"  # 8折封顶100: percent_off 20, max_discount 10000
    FREE_SERVICE = "FREE_SERVICE"  # 体验券: one unit of a named service free
    BUY_N_GET_ONE = "BUY_N_GET_ONE"  # 买3送1: every (N+1)th unit free, cheapest first


coupon_templates = Table(
    "coupon_templates",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("name", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("threshold", Id, nullable=False, default=0),
    Column("amount_off", Id, nullable=True),
    Column("percent_off", Integer, nullable=True),
    Column("max_discount", Id, nullable=True),
    Column("buy_count", Integer, nullable=True),
    # Validity: N local days from issue, or an absolute window (stored as instants, end exclusive).
    Column("valid_days", Integer, nullable=True),
    Column("valid_from", UtcDateTime(), nullable=True),
    Column("valid_to", UtcDateTime(), nullable=True),
    Column("per_member_limit", Integer, nullable=True),
    Column("total_limit", Integer, nullable=True),
    # Counted always, limit or not: the limits are conditional updates of these.
    Column("issued_count", Id, nullable=False, default=0),
    Column("redeemed_count", Id, nullable=False, default=0),
    Column("stacks_with_card_discount", Boolean, nullable=False, default=True),
    Column("combines", Boolean, nullable=False, default=False),
    Column("points_cost", Id, nullable=True),
    Column("created_by", Id, ForeignKey("staff.id"), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
)

# Empty scope tables mean: every store; every service and retail product line.
coupon_template_services = Table(
    "coupon_template_services",
    metadata,
    Column("template_id", Id, ForeignKey("coupon_templates.id"), primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), primary_key=True),
)

coupon_template_stores = Table(
    "coupon_template_stores",
    metadata,
    Column("template_id", Id, ForeignKey("coupon_templates.id"), primary_key=True),
    Column("store_id", Id, ForeignKey("stores.id"), primary_key=True),
)


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    kind: CouponKind
    threshold: int | None = None
    amount_off: int | None = None
    percent_off: int | None = None
    max_discount: int | None = None
    service_ids: tuple[int, ...] = ()
    buy_count: int | None = None
    store_ids: tuple[int, ...] = ()
    valid_days: int | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    per_member_limit: int | None = None
    total_limit: int | None = None
    stacks_with_card_discount: bool = True
    combines: bool = False
    points_cost: int | None = None


@dataclass(frozen=True)
class Template:
    """A template with its scope, as pricing and redemption read it."""

    row: object
    service_ids: frozenset[int]
    store_ids: frozenset[int]

    def __getattr__(self, name):
        return getattr(self.row, name)


def _count(value: int | None, field: str, what: str, *, low: int = 1, high: int = MAX_LIMIT) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise DomainError("INVALID_VALUE", field, what=f"{what}（{low}-{high}）")


def _check_kind(spec: TemplateSpec) -> None:
    if spec.kind == CouponKind.THRESHOLD_OFF:
        if spec.amount_off is None:
            raise DomainError("REQUIRED", "amountOff", what="减免金额")
        check_amount(spec.amount_off, "amountOff")
    elif spec.kind == CouponKind.PERCENT_OFF:
        if spec.percent_off is None:
            raise DomainError("REQUIRED", "percentOff", what="折扣")
        _count(spec.percent_off, "percentOff", "优惠百分比", high=99)
    elif not spec.service_ids:
        raise DomainError("REQUIRED", "serviceIds", what="适用项目")
    if spec.kind == CouponKind.BUY_N_GET_ONE:
        if spec.buy_count is None:
            raise DomainError("REQUIRED", "buyCount", what="购买数量")
        _count(spec.buy_count, "buyCount", "购买数量", high=98)
    if spec.threshold is not None and spec.threshold != 0:
        check_amount(spec.threshold, "threshold")
    if spec.max_discount is not None:
        check_amount(spec.max_discount, "maxDiscount")
    if spec.points_cost is not None:
        _count(spec.points_cost, "pointsCost", "所需积分")


def _check_validity(spec: TemplateSpec) -> None:
    _count(spec.valid_days, "validDays", "有效天数", high=MAX_VALID_DAYS)
    if spec.valid_days is not None and (spec.valid_from or spec.valid_to):
        raise DomainError("INVALID_VALUE", "validDays", what="有效期（天数与起止日期只能选一种）")
    if spec.valid_days is None and spec.valid_to is None:
        raise DomainError("REQUIRED", "validTo", what="有效期（有效天数或截止日期）")
    if spec.valid_from and spec.valid_to and spec.valid_from > spec.valid_to:
        raise DomainError("DATE_RANGE_INVALID", "validTo")


async def create_template(db: AsyncConnection, actor: Actor, spec: TemplateSpec) -> int:
    name = check_text(spec.name, "name", "券名称", 40)
    _check_kind(spec)
    _check_validity(spec)
    _count(spec.per_member_limit, "perMemberLimit", "每人限领")
    _count(spec.total_limit, "totalLimit", "发行总量")
    if len(spec.service_ids) > MAX_SCOPE or len(spec.store_ids) > MAX_SCOPE:
        raise DomainError("TOO_MANY", "serviceIds", what="适用范围", max=MAX_SCOPE)
    await _check_ids(db, services, actor.brand_id, set(spec.service_ids), "serviceIds", "项目")
    await _check_ids(db, stores, actor.brand_id, set(spec.store_ids), "storeIds", "门店")
    if await db.scalar(select(coupon_templates.c.id).where(coupon_templates.c.brand_id == actor.brand_id, coupon_templates.c.name == name)):
        raise DomainError("DUPLICATE_NAME", "name", name=name)
    tz = await db.scalar(select(brands.c.timezone).where(brands.c.id == actor.brand_id))
    # An absolute window runs from the start of its first local day to the end of its last.
    valid_from = day_bounds(spec.valid_from, tz)[0] if spec.valid_from else None
    valid_to = day_bounds(spec.valid_to, tz)[1] if spec.valid_to else None
    values = {
        "brand_id": actor.brand_id, "name": name, "kind": spec.kind.value, "threshold": spec.threshold or 0, "amount_off": spec.amount_off,
        "percent_off": spec.percent_off, "max_discount": spec.max_discount, "buy_count": spec.buy_count, "valid_days": spec.valid_days,
        "valid_from": valid_from, "valid_to": valid_to, "per_member_limit": spec.per_member_limit, "total_limit": spec.total_limit,
        "issued_count": 0, "redeemed_count": 0, "stacks_with_card_discount": spec.stacks_with_card_discount, "combines": spec.combines,
        "points_cost": spec.points_cost, "created_by": actor.staff_id, "created_at": utcnow(),
    }
    template_id = (await db.execute(insert(coupon_templates).values(**values).returning(coupon_templates.c.id))).scalar_one()
    if spec.service_ids:
        await db.execute(insert(coupon_template_services), [{"template_id": template_id, "service_id": s} for s in sorted(set(spec.service_ids))])
    if spec.store_ids:
        await db.execute(insert(coupon_template_stores), [{"template_id": template_id, "store_id": s} for s in sorted(set(spec.store_ids))])
    await audit.record(db, actor, "coupon_template.create", "coupon_template", template_id,
                       after={k: v for k, v in values.items() if k not in ("created_at", "valid_from", "valid_to")})
    return template_id


async def _check_ids(db: AsyncConnection, table: Table, brand_id: int, ids: set[int], field: str, what: str) -> None:
    if not ids:
        return
    found = set((await db.execute(select(table.c.id).where(table.c.brand_id == brand_id, table.c.id.in_(ids)))).scalars())
    if found != ids:
        raise DomainError("NOT_FOUND", field, what=what)


async def get_template(db: AsyncConnection, brand_id: int, template_id: int, field: str = "templateId") -> Template:
    row = (await db.execute(select(coupon_templates).where(coupon_templates.c.id == template_id))).first()
    if row is None or row.brand_id != brand_id:
        raise DomainError("NOT_FOUND", field, what="券模板")
    return (await templates_by_ids(db, [template_id]))[template_id]


async def templates_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, Template]:
    ids = list(set(ids))
    if not ids:
        return {}
    rows = {r.id: r for r in await db.execute(select(coupon_templates).where(coupon_templates.c.id.in_(ids)))}
    scoped_services: dict[int, set[int]] = {i: set() for i in rows}
    scoped_stores: dict[int, set[int]] = {i: set() for i in rows}
    for t, s in await db.execute(select(coupon_template_services).where(coupon_template_services.c.template_id.in_(ids))):
        scoped_services[t].add(s)
    for t, s in await db.execute(select(coupon_template_stores).where(coupon_template_stores.c.template_id.in_(ids))):
        scoped_stores[t].add(s)
    return {i: Template(r, frozenset(scoped_services[i]), frozenset(scoped_stores[i])) for i, r in rows.items()}


async def list_templates(db: AsyncConnection, brand_id: int) -> list[Template]:
    ids = list((await db.execute(select(coupon_templates.c.id).where(coupon_templates.c.brand_id == brand_id).order_by(coupon_templates.c.id))).scalars())
    found = await templates_by_ids(db, ids)
    return [found[i] for i in ids]
