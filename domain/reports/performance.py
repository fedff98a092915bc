"""Technician performance (员工绩效/提成) for a period: services performed and their revenue, cards
and products sold, and the commission the brand's rules give (DESIGN.md §7 Operations).

Commission rules, one row each (`commission_rules`):
  SERVICE        rate_bp of the money paid for one service (target = service id)
  CATEGORY       rate_bp of the money paid for services of a category (target = category; "" = every service)
  SESSION        a fixed amount per count-card session served (target = service id; "" = every service)
  STORED_VALUE   rate_bp of stored-value top-up principal, to the staff who took the top-up
  COUNT_CARD     rate_bp of count-card sales, to the technician on the line that sold it
  PRODUCT        rate_bp of retail products sold
The most specific rule wins (a service's own over its category's over ""). Lines count for the
orders paid in the period, net of what has been refunded of them: a refund takes its commission back.
Amounts are summed in the database per technician and item; each sum's commission is rounded half
up to the fen."""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint, case, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor, Role
from domain.brands.catalogue import services
from domain.brands.staff import staff
from domain.brands.stores import brands, get_store
from domain.cards.stored_value import card_entries
from domain.db import Id, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.ledger.postings import transfers
from domain.sales.checkout import order_payments
from domain.sales.orders import OrderStatus, order_lines, orders
from domain.timezones import day_bounds

MAX_RULES = 200
MAX_DAYS = 366


class RuleKind(enum.StrEnum):
    SERVICE = "SERVICE"
    CATEGORY = "CATEGORY"
    SESSION = "SESSION"
    STORED_VALUE = "STORED_VALUE"
    COUNT_CARD = "COUNT_CARD"
    PRODUCT = "PRODUCT"


commission_rules = Table(
    "commission_rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("target", String(40), nullable=False, default=""),
    Column("rate_bp", Integer, nullable=True),
    Column("amount", Id, nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "kind", "target"),
    CheckConstraint("rate_bp IS NULL OR rate_bp BETWEEN 0 AND 10000", name="rate"),
    CheckConstraint("amount IS NULL OR amount >= 0", name="amount"),
)


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    target: str = ""
    rate_bp: int | None = None
    amount: int | None = None


async def set_rules(db: AsyncConnection, actor: Actor, rules: list[Rule]) -> list:
    """The brand's whole rule set, replaced."""
    if len(rules) > MAX_RULES:
        raise DomainError("TOO_MANY", "rules", what="提成规则", max=MAX_RULES)
    seen = set()
    service_ids = {str(r.id) for r in await db.execute(select(services.c.id).where(services.c.brand_id == actor.brand_id))}
    for i, r in enumerate(rules):
        if (r.kind, r.target) in seen:
            raise DomainError("DUPLICATE_NAME", f"rules.{i}", name=f"{r.kind.value}:{r.target}")
        seen.add((r.kind, r.target))
        if r.kind == RuleKind.SESSION:
            if r.amount is None or r.amount < 0 or r.amount > 10_000_000 or r.rate_bp is not None:
                raise DomainError("INVALID_VALUE", f"rules.{i}.amount", what="每次提成金额")
        elif r.rate_bp is None or not 0 <= r.rate_bp <= 10000 or r.amount is not None:
            raise DomainError("INVALID_VALUE", f"rules.{i}.ratePercent", what="提成比例（0-100%）")
        if r.kind in (RuleKind.SERVICE, RuleKind.SESSION) and r.target and r.target not in service_ids:
            raise DomainError("NOT_FOUND", f"rules.{i}.serviceId", what="服务项目")
        if r.kind == RuleKind.SERVICE and not r.target:
            raise DomainError("REQUIRED", f"rules.{i}.serviceId", what="服务项目")
        if len(r.target) > 40:
            raise DomainError("TOO_LONG", f"rules.{i}.category", what="分类", max=40)
    await db.execute(delete(commission_rules).where(commission_rules.c.brand_id == actor.brand_id))
    if rules:
        await db.execute(insert(commission_rules), [dict(brand_id=actor.brand_id, kind=r.kind.value, target=r.target, rate_bp=r.rate_bp, amount=r.amount,
                                                         created_at=utcnow()) for r in rules])
    await audit.record(db, actor, "commission.rules", "brand", actor.brand_id, after={"rules": [r.__dict__ | {"kind": r.kind.value} for r in rules]})
    return await rules_of(db, actor.brand_id)


async def rules_of(db: AsyncConnection, brand_id: int) -> list[Rule]:
    rows = await db.execute(select(commission_rules).where(commission_rules.c.brand_id == brand_id).order_by(commission_rules.c.kind, commission_rules.c.target))
    return [Rule(RuleKind(r.kind), r.target, r.rate_bp, r.amount) for r in rows]


@dataclass
class Performance:
    technician_id: int
    name: str = ""
    services_count: int = 0
    service_revenue: int = 0
    count_card_sessions: int = 0
    card_sales: int = 0
    products_sold: int = 0
    product_revenue: int = 0
    commission: int = 0
    rating: float | None = None
    review_count: int = 0
    parts: dict = field(default_factory=lambda: defaultdict(int))


def _pct(amount: int, bp: int) -> int:
    value = amount * bp
    return (value + 5000) // 10000 if value >= 0 else -((-value + 5000) // 10000)


class _Book:
    def __init__(self, rules: list[Rule]) -> None:
        self.by = {(r.kind, r.target): r for r in rules}

    def service_rate(self, service_id: int, category: str) -> int:
        for key in ((RuleKind.SERVICE, str(service_id)), (RuleKind.CATEGORY, category), (RuleKind.CATEGORY, "")):
            if key in self.by:
                return self.by[key].rate_bp or 0
        return 0

    def session_amount(self, service_id: int) -> int:
        for key in ((RuleKind.SESSION, str(service_id)), (RuleKind.SESSION, "")):
            if key in self.by:
                return self.by[key].amount or 0
        return 0

    def rate(self, kind: RuleKind) -> int:
        rule = self.by.get((kind, ""))
        return rule.rate_bp or 0 if rule else 0


async def _bounds(db: AsyncConnection, actor: Actor, start_day: dt.date, end_day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    if end_day < start_day or (end_day - start_day).days > MAX_DAYS:
        raise DomainError("DATE_RANGE_INVALID", "to")
    tz = await db.scalar(select(brands.c.timezone).where(brands.c.id == actor.brand_id))
    return day_bounds(start_day, tz)[0], day_bounds(end_day, tz)[1]


async def _line_rows(db: AsyncConnection, brand_id: int, store_id: int | None, start: dt.datetime, end: dt.datetime):
    o, l, p = orders.c, order_lines.c, order_payments.c
    # Only the period's orders: the sessions their lines were covered with.
    in_period = select(o.id).where(o.brand_id == brand_id, o.paid_at >= start, o.paid_at < end)
    cc = (select(p.order_line_id.label("line_id"), func.count().label("sessions"), func.sum(p.amount).label("value"),
                 func.sum(case((p.refunded_amount > 0, 1), else_=0)).label("sessions_back"), func.sum(p.refunded_amount).label("value_back"))
          .where(p.method == "COUNT_CARD", p.order_line_id.is_not(None), p.order_id.in_(in_period))
          .group_by(p.order_line_id).subquery())
    q = (select(l.technician_id, l.kind, l.item_id, l.category,
                func.sum(l.quantity - l.refunded_quantity).label("units"), func.sum(l.net_amount - l.refunded_amount).label("revenue"),
                func.sum((l.net_amount - func.coalesce(cc.c.value, 0)) - (l.refunded_amount - func.coalesce(cc.c.value_back, 0))).label("money"),
                func.sum(func.coalesce(cc.c.sessions, 0) - func.coalesce(cc.c.sessions_back, 0)).label("sessions"))
         .select_from(orders.join(order_lines, l.order_id == o.id).outerjoin(cc, cc.c.line_id == l.id))
         .where(o.brand_id == brand_id, o.paid_at >= start, o.paid_at < end, l.technician_id.is_not(None),
                o.status.in_([OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value, OrderStatus.REFUNDED.value]))
         .group_by(l.technician_id, l.kind, l.item_id, l.category))
    if store_id is not None:
        q = q.where(o.store_id == store_id)
    return await db.execute(q)


async def technician_performance(db: AsyncConnection, actor: Actor, *, store_id: int | None, start_day: dt.date, end_day: dt.date) -> list[Performance]:
    if store_id is not None:
        await get_store(db, actor, store_id, act=False)
        if not actor.can_act_for_store(store_id):
            raise DomainError("STORE_FORBIDDEN", "storeId")
    elif not actor.can_act_for_store(-1):
        # A store's own staff see their own store.
        store_id = actor.store_id
    start, end = await _bounds(db, actor, start_day, end_day)
    book = _Book(await rules_of(db, actor.brand_id))
    found: dict[int, Performance] = {}
    get = lambda sid: found.setdefault(sid, Performance(sid))  # noqa: E731
    for r in await _line_rows(db, actor.brand_id, store_id, start, end):
        perf = get(r.technician_id)
        money, units, sessions = int(r.money or 0), int(r.units or 0), int(r.sessions or 0)
        if r.kind == "SERVICE":
            perf.services_count += units
            perf.service_revenue += int(r.revenue or 0)
            perf.count_card_sessions += sessions
            perf.parts["service"] += _pct(money, book.service_rate(r.item_id, r.category))
            perf.parts["sessions"] += sessions * book.session_amount(r.item_id)
        elif r.kind == "COUNT_CARD":
            perf.card_sales += money
            perf.parts["count_card"] += _pct(money, book.rate(RuleKind.COUNT_CARD))
        elif r.kind == "PRODUCT":
            perf.products_sold += units
            perf.product_revenue += money
            perf.parts["product"] += _pct(money, book.rate(RuleKind.PRODUCT))
    await _top_ups(db, actor.brand_id, store_id, start, end, get, book.rate(RuleKind.STORED_VALUE))
    if actor.role == Role.TECHNICIAN:
        # DESIGN §1: a technician sees their own performance, never a colleague's; a quiet period is a row of zeros.
        found = {actor.staff_id: get(actor.staff_id)}
    await _names_and_ratings(db, found, start, end)
    for perf in found.values():
        perf.commission = sum(perf.parts.values())
    return sorted(found.values(), key=lambda p: (-p.commission, p.technician_id))


async def _top_ups(db, brand_id, store_id, start, end, get, rate_bp: int) -> None:
    e = card_entries.c
    q = (select(e.staff_id, func.sum(e.principal_delta)).where(e.brand_id == brand_id, e.kind == "TOP_UP", e.created_at >= start, e.created_at < end,
                                                                e.staff_id.is_not(None)).group_by(e.staff_id))
    if store_id is not None:
        q = q.where(e.store_id == store_id)
    for staff_id, principal in await db.execute(q):
        perf = get(staff_id)
        perf.card_sales += int(principal or 0)
        perf.parts["stored_value"] += _pct(int(principal or 0), rate_bp)


async def _names_and_ratings(db, found: dict[int, Performance], start, end) -> None:
    if not found:
        return
    for sid, name in await db.execute(select(staff.c.id, staff.c.name).where(staff.c.id.in_(list(found)))):
        found[sid].name = name
    reviews = metadata.tables.get("reviews")
    if reviews is None or "technician_id" not in reviews.c or "rating" not in reviews.c:
        return
    # Reviews belong to another area that may not exist yet; the rating is the average of the technician's reviews.
    rows = await db.execute(select(reviews.c.technician_id, func.avg(reviews.c.rating), func.count())
                            .where(reviews.c.technician_id.in_(list(found))).group_by(reviews.c.technician_id))
    for sid, avg, count in rows:
        found[sid].rating = round(float(avg), 2) if avg is not None else None
        found[sid].review_count = count



# The reports read one period: these keep their cost to the rows of that period.
Index("ix_orders_brand_id_paid_at", orders.c.brand_id, orders.c.paid_at)
Index("ix_card_entries_brand_id_created_at", card_entries.c.brand_id, card_entries.c.created_at)
Index("ix_transfers_brand_id_created_at", transfers.c.brand_id, transfers.c.created_at)
