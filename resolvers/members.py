"""Members: register, update, find."""

from __future__ import annotations

from domain.brands.stores import get_store
from domain.coupons import rules as coupon_rules
from domain.errors import DomainError
from domain.marketing import referrals
from domain.members import adjustments, members, tiers
from domain.members.members import Tier
from domain.members.tiers import TierBasis
from domain.pagination import decode_cursor, page_size
from resolvers import member_operations
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id, parse_global_id
from resolvers.member_operations import Registration


async def register_member(ctx: Context, *, name: str, phone: str, store_id: str, consent: bool, tags: list[str] | None,
                          referral_code: str | None = None, extra: Registration | None = None) -> Outcome:
    async def work(db, actor):
        store_pk = decode_id(store_id, "Store", "storeId")

        async def register() -> int:
            # A friend's referral code links the new member to the referrer (domain.marketing.referrals).
            member_id = await referrals.register_referred(
                db, actor, ctx.cipher, referral_code=referral_code, name=name, phone=phone, store_id=store_pk, consent=consent, tags=tags
            )
            await coupon_rules.on_registration(db, actor, member_id=member_id)
            await member_operations.after_register(ctx, db, actor, member_id=member_id, store_id=store_pk, extra=extra)
            return member_id

        member_id = await member_operations.keyed(
            db, actor, extra, {"name": name, "phone": phone, "storeId": store_id, "tags": tags, "referralCode": referral_code},
            register, guard=lambda: get_store(db, actor, store_pk),
        )
        return await members.get_member(db, actor, member_id)

    return await ctx.mutate("registerMember", work)


async def update_member(ctx: Context, *, member_id: str, name: str | None, add_tags: list[str] | None, remove_tags: list[str] | None,
                        profile: dict | None = None) -> Outcome:
    async def work(db, actor):
        pk = decode_id(member_id, "Member", "memberId")
        await members.update_member(db, actor, member_id=pk, name=name, add_tags=add_tags, remove_tags=remove_tags)
        await member_operations.update_profile(ctx, db, actor, member_id=pk, profile=profile)
        return await members.get_member(db, actor, pk)

    return await ctx.mutate("updateMember", work)


async def member(ctx: Context, *, member_id: str):
    """The member, or None for an id that is malformed, unknown or another brand's."""
    actor = await ctx.authorize("member")
    parsed = parse_global_id(member_id)
    if parsed is None or parsed[0] != "Member":
        return None
    row = await ctx.loaders.member.load(parsed[1])
    return row if row is not None and row.brand_id == actor.brand_id else None


async def search_members(ctx: Context, *, search: str | None, first: int | None, after: str | None):
    return await ctx.query(
        "members",
        lambda db, actor: members.search_members(db, actor, ctx.cipher, search=search, first=first, after=after),
    )


def entries_page_args(first: int | None, after: str | None) -> tuple[int, int | None]:
    try:
        return page_size(first), decode_cursor(after)
    except DomainError as error:
        from resolvers.errors import QueryError

        raise QueryError(error, "zh") from None


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
