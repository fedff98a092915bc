"""Stored-value card products (卡种): a product's service discount and its tiered top-up bonuses
(充值送), and the brand's default product for a first mini-program top-up."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Table, UniqueConstraint, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.stores import brands
from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError
from domain.validation import check_amount, check_text

MAX_RULES = 20


card_products = Table(
    "stored_value_card_products",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("name", String(40), nullable=False),
    # The share of the list price a member pays for services paid with this card: 85 is 85折.
    Column("service_discount_percent", Integer, nullable=False, default=100),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
    CheckConstraint("service_discount_percent BETWEEN 1 AND 100", name="discount"),
)


top_up_rules = Table(
    "top_up_rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("product_id", Id, ForeignKey("stored_value_card_products.id"), nullable=False),
    Column("threshold", Id, nullable=False),
    Column("bonus", Id, nullable=False),
    # 首充礼: a coupon of this template for the member's first top-up that reaches this rule.
    Column("coupon_template_id", Id, ForeignKey("coupon_templates.id"), nullable=True),
    UniqueConstraint("product_id", "threshold"),
    CheckConstraint("threshold > 0 AND bonus >= 0", name="amounts"),
)


@dataclass(frozen=True)
class TopUpRule:
    threshold: int
    bonus: int
    coupon_template_id: int | None = None  # 首充礼 (domain.coupons.rules.first_top_up_gift)


def bonus_for(rules: list[TopUpRule], amount: int) -> int:
    """充值送, tiered: the bonus of the highest threshold the amount reaches."""
    reached = [r for r in rules if r.threshold <= amount]
    return max(reached, key=lambda r: r.threshold).bonus if reached else 0


async def create_product(
    db: AsyncConnection, actor: Actor, *, name: str, service_discount_percent: int, rules: list[TopUpRule]
) -> int:
    name = check_text(name, "name", "卡种名称", 40)
    if not 1 <= service_discount_percent <= 100:
        raise DomainError("PERCENT_OUT_OF_RANGE", "serviceDiscountPercent")
    if len(rules) > MAX_RULES:
        raise DomainError("TOO_MANY", "topUpRules", what="充值档位", max=MAX_RULES)
    seen: set[int] = set()
    for i, rule in enumerate(rules):
        check_amount(rule.threshold, f"topUpRules.{i}.threshold")
        if rule.bonus < 0:
            raise DomainError("INVALID_VALUE", f"topUpRules.{i}.bonus", what="赠送金额")
        if rule.bonus > rule.threshold:
            raise DomainError("BONUS_TOO_LARGE", f"topUpRules.{i}.bonus")
        if rule.threshold in seen:
            raise DomainError("DUPLICATE_THRESHOLD", f"topUpRules.{i}.threshold", threshold=rule.threshold)
        seen.add(rule.threshold)
    if await db.scalar(select(card_products.c.id).where(card_products.c.brand_id == actor.brand_id, card_products.c.name == name)):
        raise DomainError("DUPLICATE_NAME", "name", name=name)
    product_id = (
        await db.execute(
            insert(card_products)
            .values(brand_id=actor.brand_id, name=name, service_discount_percent=service_discount_percent)
            .returning(card_products.c.id)
        )
    ).scalar_one()
    if rules:
        await db.execute(
            insert(top_up_rules), [{"product_id": product_id, "threshold": r.threshold, "bonus": r.bonus, "coupon_template_id": r.coupon_template_id} for r in rules]
        )
    await audit.record(
        db, actor, "card_product.create", "stored_value_card_product", product_id,
        after={"name": name, "service_discount_percent": service_discount_percent, "rules": [r.__dict__ for r in rules]},
    )
    return product_id


async def get_product(db: AsyncConnection, actor: Actor, product_id: int, field: str = "cardProductId"):
    row = (await db.execute(select(card_products).where(card_products.c.id == product_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="卡种")
    return row


async def set_default_product(db: AsyncConnection, actor: Actor, product_id: int) -> None:
    """The card product a customer's first mini-program top-up opens (a brand setting kept here,
    where card products are known)."""
    await get_product(db, actor, product_id, "defaultCardProductId")
    before = await db.scalar(select(brands.c.default_card_product_id).where(brands.c.id == actor.brand_id))
    await db.execute(update(brands).where(brands.c.id == actor.brand_id).values(default_card_product_id=product_id))
    await audit.record(
        db, actor, "brand.settings", "brand", actor.brand_id,
        before={"default_card_product_id": before}, after={"default_card_product_id": product_id},
    )


async def rules_of(db: AsyncConnection, product_id: int) -> list[TopUpRule]:
    rows = await db.execute(
        select(top_up_rules.c.threshold, top_up_rules.c.bonus).where(top_up_rules.c.product_id == product_id).order_by(top_up_rules.c.threshold)
    )
    return [TopUpRule(t, b) for t, b in rows]
