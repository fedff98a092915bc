"""The marketing area: segments, campaigns, referral rewards, and the members' RFM."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError
from domain.marketing import campaigns, referrals, segments
from domain.marketing.referrals import Reward
from domain.marketing.segments import Rule
from resolvers.context import Context
from resolvers.errors import Outcome, QueryError
from resolvers.ids import decode_id, parse_global_id


@dataclass
class RuleInput:
    tags: list[str] | None
    tiers: list[str] | None
    store_ids: list[str] | None
    min_total_spent: int | None
    dormant_days: int | None
    min_rfm_score: int | None


def _rule(rule: RuleInput | None) -> Rule:
    if rule is None:
        return Rule()
    store_ids = [decode_id(s, "Store", f"rule.storeIds.{i}") for i, s in enumerate(rule.store_ids or [])]
    return Rule(list(rule.tags or []), list(rule.tiers or []), store_ids, rule.min_total_spent, rule.dormant_days, rule.min_rfm_score)


async def create_segment(ctx: Context, *, name: str, rule: RuleInput | None) -> Outcome:
    async def work(db, actor):
        segment_id = await segments.create_segment(db, actor, name=name, rule=_rule(rule))
        return await segments.get_segment(db, actor, segment_id)

    return await ctx.mutate("createSegment", work)


async def segment(ctx: Context, *, segment_id: str):
    """The segment, or None for an id that is malformed, unknown or another brand's."""
    parsed = parse_global_id(segment_id)

    async def work(db, actor):
        if parsed is None or parsed[0] != "Segment":
            return None
        try:
            return await segments.get_segment(db, actor, parsed[1])
        except DomainError:
            return None

    return await ctx.query("segment", work)


async def list_segments(ctx: Context) -> list:
    return await ctx.query("segments", lambda db, actor: segments.list_segments(db, actor))


async def _read(ctx: Context, work):
    """A nested field's own read (it runs after the root field's transaction has closed)."""
    try:
        async with ctx.reads.reading() as db:
            return await work(db)
    except DomainError as error:
        raise QueryError(error, ctx.lang) from None


async def segment_member_count(ctx: Context, row) -> int:
    return await _read(ctx, lambda db: segments.member_count(db, row.brand_id, Rule.from_json(row.rule)))


async def segment_members(ctx: Context, row, *, first: int | None, after: str | None) -> tuple[list, bool]:
    return await _read(ctx, lambda db: segments.members_page(db, row.brand_id, Rule.from_json(row.rule), first=first, after=after))


async def launch_campaign(ctx: Context, *, name: str, segment_id: str, coupon_template_id: str, idempotency_key: str) -> Outcome:
    async def work(db, actor):
        campaign_id = await campaigns.launch(
            db, actor, name=name, segment_id=decode_id(segment_id, "Segment", "segmentId"),
            template_id=decode_id(coupon_template_id, "CouponTemplate", "couponTemplateId"), idempotency_key=idempotency_key,
        )
        return await campaigns.get_campaign(db, actor, campaign_id)

    return await ctx.mutate("launchCampaign", work)


async def campaign_preview(ctx: Context, *, segment_id: str, coupon_template_id: str) -> tuple[int, int]:
    async def work(db, actor):
        return await campaigns.preview(db, actor, segment_id=decode_id(segment_id, "Segment", "segmentId"),
                                       template_id=decode_id(coupon_template_id, "CouponTemplate", "couponTemplateId"))

    return await ctx.query("campaignPreview", work)


async def list_campaigns(ctx: Context) -> list:
    return await ctx.query("campaigns", lambda db, actor: campaigns.list_campaigns(db, actor))


async def referral_reward(ctx: Context) -> Reward:
    return await ctx.query("referralReward", lambda db, actor: referrals.reward_of(db, actor.brand_id))


async def set_referral_reward(ctx: Context, *, referrer_points: int, friend_points: int, referrer_template_id: str | None,
                              friend_template_id: str | None) -> Outcome:
    async def work(db, actor):
        reward = Reward(
            referrer_points, friend_points,
            decode_id(referrer_template_id, "CouponTemplate", "referrerCouponTemplateId") if referrer_template_id else None,
            decode_id(friend_template_id, "CouponTemplate", "friendCouponTemplateId") if friend_template_id else None,
        )
        return await referrals.set_reward(db, actor, reward)

    return await ctx.mutate("setReferralReward", work)
