"""Members and their stored-value cards: queries, mutations, payloads."""

from __future__ import annotations

import datetime as dt
import json

import strawberry
from strawberry.types import Info

from domain.members.members import Tier
from domain.members.tiers import TierBasis
from domain.pagination import encode_cursor
from resolvers import audit as audit_resolvers
from resolvers import cards as card_resolvers
from resolvers import members as resolvers
from resolvers.ids import to_global_id
from schema.errors import UserError, user_errors
from schema.member_fields import (
    GenderEnum,
    MembershipFeeInput,
    profile_changes,
    registration_of,
)
from schema.scalars import Fen
from schema.types import (
    AuditEntry,
    AuditEntryConnection,
    AuditEntryEdge,
    Member,
    MemberConnection,
    MemberEdge,
    PageInfo,
    StoredValueCard,
    StoredValueCardProduct,
    TenderEnum,
    TierEnum,
)


@strawberry.input
class RegisterMemberInput:
    name: str
    phone: str
    store_id: strawberry.ID
    consent: bool = strawberry.field(description="The customer agreed to the privacy policy; required")
    tags: list[str] | None = None
    referral_code: str | None = strawberry.field(default=None, description="推荐码 of the member who referred this new member")
    membership_fee: MembershipFeeInput | None = strawberry.field(default=None, description="会员费: required when the brand charges one; taken with the registration or nothing is registered")
    card_number: str | None = strawberry.field(default=None, description="A physical member card to bind")
    birthday: dt.date | None = None
    gender: GenderEnum | None = None
    allergies: str | None = None
    preferences: str | None = None
    notes: str | None = None
    idempotency_key: str | None = strawberry.field(default=None, description="Required with membershipFee: one registration per key")


@strawberry.type
class MemberPayload:
    member: Member | None
    errors: list[UserError]


@strawberry.input
class UpdateMemberInput:
    member_id: strawberry.ID
    name: str | None = None
    add_tags: list[str] | None = None
    remove_tags: list[str] | None = None
    birthday: dt.date | None = None
    gender: GenderEnum | None = None
    allergies: str | None = strawberry.field(default=None, description="\"\" clears it")
    preferences: str | None = None
    notes: str | None = None


@strawberry.input
class TopUpRuleInput:
    threshold: Fen
    bonus: Fen
    coupon_template_id: strawberry.ID | None = strawberry.field(default=None, description="首充礼: a coupon for a first top-up reaching this rule")


@strawberry.input
class CreateStoredValueCardProductInput:
    name: str
    service_discount_percent: int = 100
    top_up_rules: list[TopUpRuleInput] = strawberry.field(default_factory=list)
    accepted_store_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Stores that accept the card; omit for all (its issuing store always does)")
    cross_store_daily_limit: Fen | None = strawberry.field(default=None, description="What one card may spend per day at stores other than its issuing store")


@strawberry.type
class CreateStoredValueCardProductPayload:
    product: StoredValueCardProduct | None
    errors: list[UserError]


@strawberry.input
class TopUpInput:
    member_id: strawberry.ID
    store_id: strawberry.ID
    amount: Fen
    tender: TenderEnum
    idempotency_key: str
    card_product_id: strawberry.ID | None = strawberry.field(default=None, description="Issues the member's card of this product on the first top-up")
    card_id: strawberry.ID | None = None


@strawberry.type
class TopUpPayload:
    card: StoredValueCard | None
    amount: Fen | None
    bonus: Fen | None = strawberry.field(description="充值送: gift credited by the highest rule reached")
    errors: list[UserError]


@strawberry.input
class FreezeCardInput:
    card_id: strawberry.ID
    reason: str | None = None


@strawberry.input
class UnfreezeCardInput:
    card_id: strawberry.ID


@strawberry.type
class CardPayload:
    card: StoredValueCard | None
    errors: list[UserError]


async def _card(info: Info, card_pk: int) -> StoredValueCard:
    return StoredValueCard.of(await info.context.loaders.card.load(card_pk))


@strawberry.type
class MemberQuery:
    @strawberry.field
    async def member(self, info: Info, id: strawberry.ID) -> Member | None:
        row = await resolvers.member(info.context, member_id=id)
        return Member.of(row, info) if row is not None else None

    @strawberry.field(description="Search by part of the name, the full phone number or the member number; newest first")
    async def members(self, info: Info, search: str | None = None, first: int | None = 20, after: str | None = None) -> MemberConnection:
        rows, more = await resolvers.search_members(info.context, search=search, first=first, after=after)
        return MemberConnection(
            edges=[MemberEdge(cursor=encode_cursor(r.id), node=Member.of(r, info)) for r in rows],
            page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(rows[-1].id) if rows else None),
        )

    @strawberry.field
    async def stored_value_card_products(self, info: Info) -> list[StoredValueCardProduct]:
        return [StoredValueCardProduct.of(r) for r in await card_resolvers.products(info.context)]

    @strawberry.field
    async def stored_value_card(self, info: Info, id: strawberry.ID) -> StoredValueCard | None:
        row = await card_resolvers.card(info.context, card_id=id)
        return StoredValueCard.of(row) if row is not None else None

    @strawberry.field(description="Staff actions on money and personal data, newest first")
    async def audit_log(self, info: Info, first: int | None = 20, after: str | None = None) -> AuditEntryConnection:
        rows, more = await audit_resolvers.audit_log(info.context, first=first, after=after)
        return AuditEntryConnection(
            edges=[
                AuditEntryEdge(
                    cursor=encode_cursor(r.id),
                    node=AuditEntry(
                        id=to_global_id("AuditEntry", r.id), action=r.action, entity=r.entity,
                        entity_id=str(r.entity_id) if r.entity_id is not None else None,
                        before=json.loads(r.before) if r.before else None, after=json.loads(r.after) if r.after else None,
                        created_at=r.created_at, staff_id=r.staff_id,
                    ),
                )
                for r in rows
            ],
            page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(rows[-1].id) if rows else None),
        )


@strawberry.type
class MemberMutation:
    @strawberry.mutation
    async def register_member(self, info: Info, input: RegisterMemberInput) -> MemberPayload:
        outcome = await resolvers.register_member(
            info.context, name=input.name, phone=input.phone, store_id=input.store_id, consent=input.consent, tags=input.tags,
            referral_code=input.referral_code,
            extra=registration_of(input),
        )
        return MemberPayload(member=Member.of(outcome.value, info) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def update_member(self, info: Info, input: UpdateMemberInput) -> MemberPayload:
        outcome = await resolvers.update_member(
            info.context, member_id=input.member_id, name=input.name, add_tags=input.add_tags, remove_tags=input.remove_tags,
            profile=profile_changes(input),
        )
        return MemberPayload(member=Member.of(outcome.value, info) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def create_stored_value_card_product(self, info: Info, input: CreateStoredValueCardProductInput) -> CreateStoredValueCardProductPayload:
        outcome = await card_resolvers.create_product(
            info.context, name=input.name, service_discount_percent=input.service_discount_percent,
            rules=[(r.threshold, r.bonus, r.coupon_template_id) for r in input.top_up_rules],
            accepted_store_ids=input.accepted_store_ids, cross_store_daily_limit=input.cross_store_daily_limit,
        )
        return CreateStoredValueCardProductPayload(
            product=StoredValueCardProduct.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang)
        )

    @strawberry.mutation(description="充值: credits principal and the bonus of the highest rule reached; idempotent on idempotencyKey")
    async def top_up(self, info: Info, input: TopUpInput) -> TopUpPayload:
        outcome = await card_resolvers.top_up(
            info.context, member_id=input.member_id, store_id=input.store_id, amount=input.amount, tender=input.tender,
            idempotency_key=input.idempotency_key, card_product_id=input.card_product_id, card_id=input.card_id,
        )
        if not outcome.ok:
            return TopUpPayload(card=None, amount=None, bonus=None, errors=user_errors(outcome.errors, info.context.lang))
        return TopUpPayload(card=await _card(info, outcome.value.card_id), amount=outcome.value.amount, bonus=outcome.value.bonus, errors=[])

    @strawberry.mutation
    async def freeze_card(self, info: Info, input: FreezeCardInput) -> CardPayload:
        outcome = await card_resolvers.set_frozen(info.context, card_id=input.card_id, frozen=True, reason=input.reason)
        return CardPayload(card=await _card(info, outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def unfreeze_card(self, info: Info, input: UnfreezeCardInput) -> CardPayload:
        outcome = await card_resolvers.set_frozen(info.context, card_id=input.card_id, frozen=False, reason=None)
        return CardPayload(card=await _card(info, outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


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
