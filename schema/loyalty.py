"""The members area's loyalty API: the brand's tier rules and manual points adjustments."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain.members.members import Tier
from domain.members.tiers import TierBasis
from resolvers import loyalty as resolvers
from schema.errors import UserError, user_errors
from schema.scalars import Fen
from schema.types import Member, TierEnum

TierBasisEnum = strawberry.enum(TierBasis, description="What tier thresholds count: cumulative top-up principal, or spend net of refunds")


@strawberry.type
class TierRule:
    tier: TierEnum
    threshold: Fen = strawberry.field(description="Reached at this cumulative amount (NORMAL: 0)")
    points_multiplier_percent: int = strawberry.field(description="Points per yuan paid, in percent: 150 is ×1.5")


@strawberry.type(description="会员等级规则: the brand's tiers; a member rises when their total reaches a threshold and never falls back")
class TierRules:
    basis: TierBasisEnum
    tiers: list[TierRule]

    @staticmethod
    def of(rules) -> "TierRules":
        return TierRules(basis=rules.basis, tiers=[
            TierRule(tier=t, threshold=rules.threshold(t), points_multiplier_percent=rules.multiplier_pct[t]) for t in (Tier.NORMAL, Tier.SILVER, Tier.GOLD)
        ])


@strawberry.input
class TierRuleInput:
    tier: TierEnum
    threshold: Fen
    points_multiplier_percent: int


@strawberry.input
class SetTierRulesInput:
    basis: TierBasisEnum
    tiers: list[TierRuleInput] = strawberry.field(description="NORMAL (threshold 0), SILVER and GOLD, each once")


@strawberry.type
class TierRulesPayload:
    rules: TierRules | None
    errors: list[UserError]


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID
    delta: int = strawberry.field(description="Points to add (negative: to take); never below zero")
    reason: str
    idempotency_key: str


@strawberry.type
class AdjustPointsPayload:
    member: Member | None
    errors: list[UserError]


@strawberry.type
class LoyaltyQuery:
    @strawberry.field
    async def tier_rules(self, info: Info) -> TierRules:
        return TierRules.of(await resolvers.tier_rules(info.context))


@strawberry.type
class LoyaltyMutation:
    @strawberry.mutation(description="Members already past a new threshold rise at once; nobody falls back")
    async def set_tier_rules(self, info: Info, input: SetTierRulesInput) -> TierRulesPayload:
        outcome = await resolvers.set_tier_rules(
            info.context, basis=TierBasis(input.basis), rules=[(Tier(r.tier), r.threshold, r.points_multiplier_percent) for r in input.tiers]
        )
        return TierRulesPayload(rules=TierRules.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="积分调整 by the owner or the manager of the member's home store, with a reason; once per idempotencyKey")
    async def adjust_points(self, info: Info, input: AdjustPointsInput) -> AdjustPointsPayload:
        outcome = await resolvers.adjust_points(
            info.context, member_id=input.member_id, delta=input.delta, reason=input.reason, idempotency_key=input.idempotency_key
        )
        member = Member.of(await info.context.loaders.member.load(outcome.value), info) if outcome.ok else None
        return AdjustPointsPayload(member=member, errors=user_errors(outcome.errors, info.context.lang))
