"""The members area's loyalty: the brand's tier rules and manual points adjustments."""

from __future__ import annotations

from domain.errors import DomainError
from domain.members import adjustments, tiers
from domain.members.members import Tier
from domain.members.tiers import TierBasis
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id


async def tier_rules(ctx: Context) -> tiers.TierRules:
    return await ctx.query("tierRules", lambda db, actor: tiers.rules_of(db, actor.brand_id))


async def set_tier_rules(ctx: Context, *, basis: TierBasis, rules: list[tuple[Tier, int, int]]) -> Outcome:
    """`rules`: (tier, threshold, points multiplier percent), each tier once."""
    async def work(db, actor):
        thresholds = {tier: threshold for tier, threshold, _pct in rules}
        multipliers = {tier: pct for tier, _threshold, pct in rules}
        if len(thresholds) != len(rules):
            raise DomainError("INVALID_VALUE", "tiers", what="等级规则（普通、银卡、金卡各一条）")
        return await tiers.set_rules(db, actor, basis=basis, thresholds=thresholds, multiplier_pct=multipliers)

    return await ctx.mutate("setTierRules", work)


async def adjust_points(ctx: Context, *, member_id: str, delta: int, reason: str, idempotency_key: str) -> Outcome:
    async def work(db, actor):
        pk = decode_id(member_id, "Member", "memberId")
        await adjustments.adjust_points(db, actor, member_id=pk, delta=delta, reason=reason, idempotency_key=idempotency_key)
        return pk

    return await ctx.mutate("adjustPoints", work)
