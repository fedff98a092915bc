"""The brand's rules that issue coupons by themselves: on registration (注册礼) and visit rewards
(消费满N次送1次: a FREE_SERVICE coupon after every N paid units of a service, once per Nth).
First top-up gifts (首充礼) ride on the card product's top-up rules (domain.cards.stored_value)."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.catalogue import services
from domain.cards.stored_value import card_entries, top_up_rules
from domain.coupons.issuing import CouponSource, IssuedCoupon, issue_coupons
from domain.coupons.templates import CouponKind, coupon_templates, get_template
from domain.db import Id, created_at_column, metadata, utcnow
from domain.errors import DomainError


class RuleTrigger(enum.StrEnum):
    REGISTRATION = "REGISTRATION"
    VISIT = "VISIT"


coupon_rules = Table(
    "coupon_rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False, index=True),
    Column("trigger", String(20), nullable=False),
    Column("template_id", Id, ForeignKey("coupon_templates.id"), nullable=False),
    Column("service_id", Id, ForeignKey("services.id"), nullable=True),  # VISIT: the service counted
    Column("visit_count", Integer, nullable=True),  # VISIT: every N paid units
    Column("active", Boolean, nullable=False, default=True),
    created_at_column(),
)


async def create_rule(db: AsyncConnection, actor: Actor, *, trigger: RuleTrigger, template_id: int, service_id: int | None,
                      visit_count: int | None) -> int:
    template = await get_template(db, actor.brand_id, template_id)
    if trigger == RuleTrigger.VISIT:
        if service_id is None:
            raise DomainError("REQUIRED", "serviceId", what="计次项目")
        if isinstance(visit_count, bool) or not isinstance(visit_count, int) or not 1 <= visit_count <= 100:
            raise DomainError("INVALID_VALUE", "visitCount", what="次数（1-100）")
        service = (await db.execute(select(services.c.brand_id).where(services.c.id == service_id))).first()
        if service is None or service.brand_id != actor.brand_id:
            raise DomainError("NOT_FOUND", "serviceId", what="项目")
        if template.kind != CouponKind.FREE_SERVICE.value:
            raise DomainError("INVALID_VALUE", "templateId", what="券模板（消费满N次送1次须为体验券）")
    elif service_id is not None or visit_count is not None:
        raise DomainError("INVALID_VALUE", "serviceId", what="计次项目（只用于消费满N次送1次）")
    rule_id = (await db.execute(insert(coupon_rules).values(
        brand_id=actor.brand_id, trigger=trigger.value, template_id=template_id, service_id=service_id, visit_count=visit_count,
        active=True, created_at=utcnow()).returning(coupon_rules.c.id))).scalar_one()
    await audit.record(db, actor, "coupon_rule.create", "coupon_rule", rule_id,
                       after={"trigger": trigger.value, "template_id": template_id, "service_id": service_id, "visit_count": visit_count})
    return rule_id


async def list_rules(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(coupon_rules).where(coupon_rules.c.brand_id == brand_id).order_by(coupon_rules.c.id)))


async def _active(db: AsyncConnection, brand_id: int, trigger: RuleTrigger) -> list:
    return list(await db.execute(select(coupon_rules).where(
        coupon_rules.c.brand_id == brand_id, coupon_rules.c.trigger == trigger.value, coupon_rules.c.active == True)  # noqa: E712
        .order_by(coupon_rules.c.id)))


async def on_registration(db: AsyncConnection, actor: Actor, *, member_id: int) -> list[IssuedCoupon]:
    """注册礼: each registration rule's coupon, once per member and rule."""
    issued: list[IssuedCoupon] = []
    for rule in await _active(db, actor.brand_id, RuleTrigger.REGISTRATION):
        if await _template_live(db, rule.template_id):
            result = await issue_coupons(db, actor, template_id=rule.template_id, member_ids=[member_id], source=CouponSource.REGISTRATION.value,
                                         batch_key=f"registration:{rule.id}")
            issued.extend(result.issued)
    return issued


def has_visit_rule(brand_id, service_id):
    """Whether the brand counts visits of the service (SQL, for a checkout's one read of its lines)."""
    return exists().where(coupon_rules.c.brand_id == brand_id, coupon_rules.c.trigger == RuleTrigger.VISIT.value,
                          coupon_rules.c.active == True, coupon_rules.c.service_id == service_id)  # noqa: E712


async def visit_rules(db: AsyncConnection, brand_id: int) -> dict[int, list]:
    """Service id -> its visit rules: checkout counts units only of these services."""
    found: dict[int, list] = {}
    for rule in await _active(db, brand_id, RuleTrigger.VISIT):
        found.setdefault(rule.service_id, []).append(rule)
    return found


async def on_visits(db: AsyncConnection, actor: Actor, *, member_id: int, rules: dict[int, list], before: dict[int, int],
                    added: dict[int, int]) -> list[IssuedCoupon]:
    """消费满N次送1次: the member had `before` paid units of each service and this order adds
    `added`; each multiple of N crossed issues one coupon, once (its batch key is the multiple)."""
    issued: list[IssuedCoupon] = []
    for service_id, count in added.items():
        for rule in rules.get(service_id, []):
            n = rule.visit_count
            for k in range(before.get(service_id, 0) // n + 1, (before.get(service_id, 0) + count) // n + 1):
                if not await _template_live(db, rule.template_id):
                    break
                result = await issue_coupons(db, actor, template_id=rule.template_id, member_ids=[member_id], source=CouponSource.VISIT_REWARD.value,
                                             batch_key=f"visit:{rule.id}:{k}")
                issued.extend(result.issued)
    return issued


async def first_top_up_gift(db: AsyncConnection, actor: Actor, *, member_id: int, product_id: int, amount: int) -> list[IssuedCoupon]:
    """首充礼: before the member's first top-up is recorded, the coupon of the highest rule of the
    product it reaches, if that rule carries one. Call it before the top-up takes the card's lock:
    checkout takes coupon templates before cards."""
    if await db.scalar(select(card_entries.c.id).where(card_entries.c.member_id == member_id, card_entries.c.kind == "TOP_UP").limit(1)):
        return []
    reached = (await db.execute(
        select(top_up_rules.c.coupon_template_id).where(top_up_rules.c.product_id == product_id, top_up_rules.c.threshold <= amount)
        .order_by(top_up_rules.c.threshold.desc()).limit(1)
    )).scalar()
    if reached is None or not await _template_live(db, reached):
        return []
    result = await issue_coupons(db, actor, template_id=reached, member_ids=[member_id], source=CouponSource.FIRST_TOP_UP.value,
                                 batch_key="first_top_up")
    return result.issued


async def _template_live(db: AsyncConnection, template_id: int) -> bool:
    """A rule whose template has ended issues nothing (rather than failing the sale or registration)."""
    valid_to = await db.scalar(select(coupon_templates.c.valid_to).where(coupon_templates.c.id == template_id))
    return valid_to is None or valid_to > utcnow()
