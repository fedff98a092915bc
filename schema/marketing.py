"""The marketing area's staff API: segments, campaigns and their attribution, referral rewards."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from domain.marketing.segments import Rule
from domain.members.members import Tier
from domain.pagination import encode_cursor
from resolvers import marketing as resolvers
from resolvers.ids import to_global_id
from resolvers.marketing import RuleInput
from schema.errors import UserError, user_errors
from schema.scalars import Fen
from schema.types import Member, MemberConnection, MemberEdge, PageInfo, TierEnum


@strawberry.input(description="A segment's rule: every condition given must hold; within a list, any value matches")
class SegmentRuleInput:
    tags: list[str] | None = strawberry.field(default=None, description="Has any of these tags")
    tiers: list[TierEnum] | None = strawberry.field(default=None, description="Is of any of these tiers")
    store_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Home store is one of these")
    min_total_spent: Fen | None = strawberry.field(default=None, description="Total spend net of refunds, at least")
    dormant_days: int | None = strawberry.field(default=None, description="No paid visit in the last N days (never visited counts)")
    min_rfm_score: int | None = strawberry.field(default=None, description="RFM score R+F+M (3-15), at least")


@strawberry.type
class SegmentRule:
    tags: list[str]
    tiers: list[TierEnum]
    store_ids: list[strawberry.ID]
    min_total_spent: Fen | None
    dormant_days: int | None
    min_rfm_score: int | None


@strawberry.type(description="客户分群: a saved rule; its members are computed from the rule each time (always current)")
class Segment:
    id: strawberry.ID
    name: str
    rule: SegmentRule
    created_at: dt.datetime
    row: strawberry.Private[object]

    @strawberry.field
    async def member_count(self, info: Info) -> int:
        return await resolvers.segment_member_count(info.context, self.row)

    @strawberry.field(description="Newest first")
    async def members(self, info: Info, first: int | None = 20, after: str | None = None) -> MemberConnection:
        rows, more = await resolvers.segment_members(info.context, self.row, first=first, after=after)
        return MemberConnection(
            edges=[MemberEdge(cursor=encode_cursor(r.id), node=Member.of(r, info)) for r in rows],
            page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(rows[-1].id) if rows else None),
        )

    @staticmethod
    def of(row) -> "Segment":
        rule = Rule.from_json(row.rule)
        return Segment(
            id=to_global_id("Segment", row.id), name=row.name, created_at=row.created_at, row=row,
            rule=SegmentRule(tags=rule.tags, tiers=[Tier(t) for t in rule.tiers], store_ids=[to_global_id("Store", s) for s in rule.store_ids],
                             min_total_spent=rule.min_total_spent, dormant_days=rule.dormant_days, min_rfm_score=rule.min_rfm_score),
        )


@strawberry.type(description="营销活动: a segment's members at launch each got one coupon of the template")
class Campaign:
    id: strawberry.ID
    name: str
    coupon_template_id: strawberry.ID
    audience: int = strawberry.field(description="Members in the segment at launch")
    created_at: dt.datetime
    pk: strawberry.Private[int]
    segment_pk: strawberry.Private[int]

    @strawberry.field(description="Coupons issued by the launch")
    async def issued_count(self, info: Info) -> int:
        return (await info.context.loaders.campaign_attribution.load(self.pk)).issued

    @strawberry.field(description="Of those, redeemed (a coupon given back by a full refund no longer counts)")
    async def redeemed_count(self, info: Info) -> int:
        return (await info.context.loaders.campaign_attribution.load(self.pk)).redeemed

    @strawberry.field(description="Spend of the orders that redeemed its coupons, net of refunds")
    async def revenue(self, info: Info) -> Fen:
        return (await info.context.loaders.campaign_attribution.load(self.pk)).revenue

    @strawberry.field
    def segment_id(self) -> strawberry.ID:
        return to_global_id("Segment", self.segment_pk)

    @staticmethod
    def of(row) -> "Campaign":
        return Campaign(
            id=to_global_id("Campaign", row.id), name=row.name, coupon_template_id=to_global_id("CouponTemplate", row.coupon_template_id),
            audience=row.audience, created_at=row.created_at, pk=row.id, segment_pk=row.segment_id,
        )


@strawberry.type(description="邀请好友: what the referrer and the friend each get when the friend's first paid order completes")
class ReferralReward:
    referrer_points: int
    friend_points: int
    referrer_coupon_template_id: strawberry.ID | None
    friend_coupon_template_id: strawberry.ID | None

    @staticmethod
    def of(reward) -> "ReferralReward":
        return ReferralReward(
            referrer_points=reward.referrer_points, friend_points=reward.friend_points,
            referrer_coupon_template_id=to_global_id("CouponTemplate", reward.referrer_template_id) if reward.referrer_template_id else None,
            friend_coupon_template_id=to_global_id("CouponTemplate", reward.friend_template_id) if reward.friend_template_id else None,
        )


@strawberry.type(description="What launching a campaign would do now")
class CampaignPreview:
    audience: int = strawberry.field(description="Members in the segment now")
    would_issue: int = strawberry.field(description="Coupons a launch would issue (the template's limits may stop some)")


@strawberry.input
class CreateSegmentInput:
    name: str
    rule: SegmentRuleInput | None = None


@strawberry.type
class SegmentPayload:
    segment: Segment | None
    errors: list[UserError]


@strawberry.input
class LaunchCampaignInput:
    name: str
    segment_id: strawberry.ID
    coupon_template_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class CampaignPayload:
    campaign: Campaign | None
    errors: list[UserError]


@strawberry.input
class SetReferralRewardInput:
    referrer_points: int = 0
    friend_points: int = 0
    referrer_coupon_template_id: strawberry.ID | None = None
    friend_coupon_template_id: strawberry.ID | None = None


@strawberry.type
class ReferralRewardPayload:
    reward: ReferralReward | None
    errors: list[UserError]


def _rule_input(rule: SegmentRuleInput | None) -> RuleInput | None:
    if rule is None:
        return None
    return RuleInput(rule.tags, [Tier(t).value for t in rule.tiers] if rule.tiers else None, rule.store_ids, rule.min_total_spent,
                     rule.dormant_days, rule.min_rfm_score)


@strawberry.type
class MarketingQuery:
    @strawberry.field
    async def segment(self, info: Info, id: strawberry.ID) -> Segment | None:
        row = await resolvers.segment(info.context, segment_id=id)
        return Segment.of(row) if row is not None else None

    @strawberry.field(description="The brand's segments, newest first")
    async def segments(self, info: Info) -> list[Segment]:
        return [Segment.of(r) for r in await resolvers.list_segments(info.context)]

    @strawberry.field(description="The brand's campaigns with their attribution, newest first")
    async def campaigns(self, info: Info) -> list[Campaign]:
        return [Campaign.of(r) for r in await resolvers.list_campaigns(info.context)]

    @strawberry.field(description="How many coupons a launch would issue, before it does")
    async def campaign_preview(self, info: Info, segment_id: strawberry.ID, coupon_template_id: strawberry.ID) -> CampaignPreview:
        audience, would = await resolvers.campaign_preview(info.context, segment_id=segment_id, coupon_template_id=coupon_template_id)
        return CampaignPreview(audience=audience, would_issue=would)

    @strawberry.field(description="邀请好友: the brand's reward (100 points each until the brand sets its own)")
    async def referral_reward(self, info: Info) -> ReferralReward:
        return ReferralReward.of(await resolvers.referral_reward(info.context))


@strawberry.type
class MarketingMutation:
    @strawberry.mutation
    async def create_segment(self, info: Info, input: CreateSegmentInput) -> SegmentPayload:
        outcome = await resolvers.create_segment(info.context, name=input.name, rule=_rule_input(input.rule))
        return SegmentPayload(segment=Segment.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="Issues one coupon to each member of the segment now; once per idempotencyKey")
    async def launch_campaign(self, info: Info, input: LaunchCampaignInput) -> CampaignPayload:
        outcome = await resolvers.launch_campaign(
            info.context, name=input.name, segment_id=input.segment_id, coupon_template_id=input.coupon_template_id,
            idempotency_key=input.idempotency_key,
        )
        return CampaignPayload(campaign=Campaign.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def set_referral_reward(self, info: Info, input: SetReferralRewardInput) -> ReferralRewardPayload:
        outcome = await resolvers.set_referral_reward(
            info.context, referrer_points=input.referrer_points, friend_points=input.friend_points,
            referrer_template_id=input.referrer_coupon_template_id, friend_template_id=input.friend_coupon_template_id,
        )
        return ReferralRewardPayload(reward=ReferralReward.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))
