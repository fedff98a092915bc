"""Tier rules (会员等级) are the brand's: a member reaches SILVER and GOLD at thresholds on their
cumulative top-up principal or on their cumulative spend (the brand's basis), and each tier earns
points at its own multiplier. Tiers never fall back: a refund lowers the running totals but not the
tier reached. The defaults are the numbers the product started with: top-up ¥3,000 for SILVER,
¥10,000 for GOLD, points ×1, ×1.2, ×1.5.

Spend is what the member paid for services, products and count cards (money, stored value, on
account), net of refunds; top-ups are not spend, and count-card sessions were paid when the card was
bought. The sales area reports each order's spend here (`record_spend`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import String, bindparam, case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.stores import brands
from domain.db import Id, UtcDateTime, utcnow
from domain.errors import DomainError
from domain.members.members import Tier, members
from domain.members.points import PointsKind, points_entries
from domain.validation import check_amount
from domain.writes import Write, insert_write

MAX_MULTIPLIER_PCT = 1000
RANK = (Tier.NORMAL, Tier.SILVER, Tier.GOLD)


class TierBasis(enum.StrEnum):
    TOP_UP = "TOP_UP"  # cumulative top-up principal that stands (refunded top-ups do not count)
    SPEND = "SPEND"  # cumulative spend, net of refunds


@dataclass(frozen=True)
class TierRules:
    basis: TierBasis
    silver_threshold: int
    gold_threshold: int
    multiplier_pct: dict[Tier, int]

    def tier_for(self, total: int) -> Tier:
        return Tier.GOLD if total >= self.gold_threshold else Tier.SILVER if total >= self.silver_threshold else Tier.NORMAL

    def threshold(self, tier: Tier) -> int:
        return {Tier.NORMAL: 0, Tier.SILVER: self.silver_threshold, Tier.GOLD: self.gold_threshold}[tier]


def rules_from_row(row) -> TierRules:
    return TierRules(
        TierBasis(row.tier_basis), row.silver_threshold, row.gold_threshold,
        {Tier.NORMAL: row.normal_points_pct, Tier.SILVER: row.silver_points_pct, Tier.GOLD: row.gold_points_pct},
    )


RULE_COLUMNS = (brands.c.tier_basis, brands.c.silver_threshold, brands.c.gold_threshold,
                 brands.c.normal_points_pct, brands.c.silver_points_pct, brands.c.gold_points_pct)


async def rules_of(db: AsyncConnection, brand_id: int) -> TierRules:
    return rules_from_row((await db.execute(select(*RULE_COLUMNS).where(brands.c.id == brand_id))).one())


async def points_multiplier_pct(db: AsyncConnection, brand_id: int, member_id: int) -> int:
    """What the member's tier earns per yuan, in percent (100: one point per yuan)."""
    row = (await db.execute(
        select(members.c.tier, brands.c.normal_points_pct, brands.c.silver_points_pct, brands.c.gold_points_pct)
        .join(brands, brands.c.id == members.c.brand_id).where(members.c.id == member_id, brands.c.id == brand_id)
    )).one()
    return {Tier.NORMAL: row.normal_points_pct, Tier.SILVER: row.silver_points_pct, Tier.GOLD: row.gold_points_pct}[Tier(row.tier)]


async def record_top_up(db: AsyncConnection, member_id: int, brand_id: int, amount: int) -> None:
    """A top-up's principal counts towards the member's total (negative: a refunded top-up)."""
    await _record(db, member_id, brand_id, members.c.total_top_up, TierBasis.TOP_UP, amount)


async def record_spend(db: AsyncConnection, member_id: int, brand_id: int, amount: int) -> None:
    """An order's spend counts towards the member's total (negative: refunded)."""
    await _record(db, member_id, brand_id, members.c.total_spent, TierBasis.SPEND, amount)


async def _record(db: AsyncConnection, member_id: int, brand_id: int, column, basis: TierBasis, amount: int) -> None:
    if not amount:
        return
    total = (
        await db.execute(update(members).where(members.c.id == member_id).values({column: column + amount}).returning(column, members.c.tier))
    ).one()
    rules = await rules_of(db, brand_id)
    if rules.basis != basis:
        return
    earned = rules.tier_for(total[0])
    if RANK.index(earned) > RANK.index(Tier(total.tier)):
        await db.execute(update(members).where(members.c.id == member_id).values(tier=earned.value))


async def record_sale(
    db: AsyncConnection, *, brand_id: int, member_id: int, rules: TierRules, spend: int, earned: int,
    order_id: int, store_id: int, staff_id: int | None, later: list,
) -> None:
    """A paid order's spend and the points it earned, in one update of the member's row, with the
    tier reached worked out in SQL from the new total (two sales of one member at once cannot miss
    a tier); `record_spend` and `points.change` do each alone elsewhere. The points entry, which
    needs the balance after, joins `later`, the writes a checkout sends together. On PostgreSQL the
    update goes there too and the entry reads the balance from it (domain.writes), saving the round
    trip; SQLite, with no UPDATE in a CTE, runs the update now."""
    if not spend and not earned:
        return
    member = Write(("sale_member",), _sale_member_update, _sale_member_values(rules, member_id, spend, earned), name="sale_member")
    entry = {"brand_id": brand_id, "member_id": member_id, "delta": earned, "kind": PointsKind.EARNED.value, "order_id": order_id,
             "store_id": store_id, "staff_id": staff_id, "created_at": utcnow()}
    if db.dialect.name == "postgresql":
        later.append(member)
        if earned:
            later.append(Write(("sale_points_entry",), _sale_points_entry, entry, reads=("sale_member",)))
        return
    points_after = (await db.execute(_sale_member_update_alone, member.values)).scalar_one()
    if earned:
        later.append(insert_write(points_entries, {**entry, "points_after": points_after, "reason": None, "reference": None}))


def _sale_member_values(rules: TierRules, member_id: int, spend: int, earned: int) -> dict:
    counts = rules.basis == TierBasis.SPEND and spend
    beyond = 2**62  # no total reaches it: a sale on the top-up basis moves no tier
    return {"member_id": member_id, "spend": spend, "earned": earned,
            "silver": rules.silver_threshold if counts else beyond, "gold": rules.gold_threshold if counts else beyond}


def _rank(tier):
    return case((tier == Tier.GOLD.value, 2), (tier == Tier.SILVER.value, 1), else_=0)


def _sale_member_update(param, _ctes, _dialect):
    total = members.c.total_spent + param("spend", Id)
    reached = case((total >= param("gold", Id), Tier.GOLD.value), (total >= param("silver", Id), Tier.SILVER.value), else_=Tier.NORMAL.value)
    return (
        update(members).where(members.c.id == param("member_id", Id))
        .values(points=members.c.points + param("earned", Id), total_spent=total,
                tier=case((_rank(reached) > _rank(members.c.tier), reached), else_=members.c.tier))
        .returning(members.c.points)
    )


_sale_member_update_alone = _sale_member_update(bindparam, {}, None)


def _sale_points_entry(param, ctes, _dialect):
    member = ctes["sale_member"]
    return insert(points_entries).from_select(
        ["brand_id", "member_id", "delta", "points_after", "kind", "order_id", "store_id", "staff_id", "created_at"],
        select(param("brand_id", Id), param("member_id", Id), param("delta", Id), member.c.points, param("kind", String()),
               param("order_id", Id), param("store_id", Id), param("staff_id", Id), param("created_at", UtcDateTime())),
    )


async def set_rules(
    db: AsyncConnection, actor: Actor, *, basis: TierBasis, thresholds: dict[Tier, int], multiplier_pct: dict[Tier, int],
) -> TierRules:
    """Replace the brand's tier rules. Members whose totals already reach a higher tier under the
    new rules rise to it now; nobody falls back."""
    rules = _checked(basis, thresholds, multiplier_pct)
    before = await rules_of(db, actor.brand_id)
    await db.execute(update(brands).where(brands.c.id == actor.brand_id).values(
        tier_basis=rules.basis.value, silver_threshold=rules.silver_threshold, gold_threshold=rules.gold_threshold,
        normal_points_pct=rules.multiplier_pct[Tier.NORMAL], silver_points_pct=rules.multiplier_pct[Tier.SILVER],
        gold_points_pct=rules.multiplier_pct[Tier.GOLD],
    ))
    total = members.c.total_top_up if rules.basis == TierBasis.TOP_UP else members.c.total_spent
    reached = case((total >= rules.gold_threshold, Tier.GOLD.value), else_=Tier.SILVER.value)
    # GOLD first, then SILVER for those still NORMAL: a single rise each, never a fall.
    await db.execute(update(members).where(members.c.brand_id == actor.brand_id, members.c.tier != Tier.GOLD.value,
                                           total >= rules.silver_threshold,
                                           (total >= rules.gold_threshold) | (members.c.tier == Tier.NORMAL.value)).values(tier=reached))
    await audit.record(db, actor, "brand.tier_rules", "brand", actor.brand_id, before=_as_dict(before), after=_as_dict(rules))
    return rules


def _checked(basis: TierBasis, thresholds: dict[Tier, int], multiplier_pct: dict[Tier, int]) -> TierRules:
    if set(thresholds) != set(Tier) or set(multiplier_pct) != set(Tier):
        raise DomainError("INVALID_VALUE", "tiers", what="等级规则（普通、银卡、金卡各一条）")
    if thresholds[Tier.NORMAL] != 0:
        raise DomainError("INVALID_VALUE", "tiers", what="普通会员门槛（须为0）")
    for tier in (Tier.SILVER, Tier.GOLD):
        check_amount(thresholds[tier], f"tiers.{tier.value}.threshold")
    if thresholds[Tier.GOLD] <= thresholds[Tier.SILVER]:
        raise DomainError("INVALID_VALUE", "tiers", what="金卡门槛（须高于银卡门槛）")
    for tier, pct in multiplier_pct.items():
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= MAX_MULTIPLIER_PCT:
            raise DomainError("INVALID_VALUE", f"tiers.{tier.value}.pointsMultiplierPercent", what=f"积分倍率（0-{MAX_MULTIPLIER_PCT}%）")
    return TierRules(basis, thresholds[Tier.SILVER], thresholds[Tier.GOLD], dict(multiplier_pct))


def _as_dict(rules: TierRules) -> dict:
    return {"basis": rules.basis.value, "silver_threshold": rules.silver_threshold, "gold_threshold": rules.gold_threshold,
            "points_pct": {t.value: p for t, p in rules.multiplier_pct.items()}}
