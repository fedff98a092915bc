"""Coupons (优惠券) on the staff and customer APIs: templates, issuing, lookup, couponCheck, points exchange."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from domain.coupons.issuing import CouponStatus
from domain.coupons.reads import status_of
from domain.coupons.rules import RuleTrigger
from domain.coupons.templates import CouponKind
from domain.db import utcnow
from resolvers import coupons as resolvers
from resolvers.ids import to_global_id
from schema.errors import UserError, user_errors
from schema.scalars import Fen

CouponKindEnum = strawberry.enum(CouponKind, name="CouponKind")
CouponStatusEnum = strawberry.enum(CouponStatus, name="CouponStatus")


@strawberry.type
class CouponTemplate:
    id: strawberry.ID
    name: str
    kind: CouponKindEnum
    threshold: Fen = strawberry.field(description="Reached by the list amount of the lines in scope")
    amount_off: Fen | None
    percent_off: int | None = strawberry.field(description="Taken off: 20 is 8折")
    max_discount: Fen | None
    buy_count: int | None = strawberry.field(description="BUY_N_GET_ONE: every (buyCount+1)th unit free, cheapest first")
    service_ids: list[strawberry.ID]
    store_ids: list[strawberry.ID]
    valid_days: int | None
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    per_member_limit: int | None
    total_limit: int | None
    issued_count: int
    redeemed_count: int
    stacks_with_card_discount: bool
    combines: bool = strawberry.field(description="May be used with other coupons on one order")
    points_cost: int | None

    @staticmethod
    def of(t) -> "CouponTemplate":
        return CouponTemplate(
            id=to_global_id("CouponTemplate", t.id), name=t.name, kind=CouponKind(t.kind), threshold=t.threshold, amount_off=t.amount_off,
            percent_off=t.percent_off, max_discount=t.max_discount, buy_count=t.buy_count,
            service_ids=[to_global_id("Service", s) for s in sorted(t.service_ids)], store_ids=[to_global_id("Store", s) for s in sorted(t.store_ids)],
            valid_days=t.valid_days, valid_from=t.valid_from, valid_to=t.valid_to, per_member_limit=t.per_member_limit, total_limit=t.total_limit,
            issued_count=t.issued_count, redeemed_count=t.redeemed_count, stacks_with_card_discount=t.stacks_with_card_discount,
            combines=t.combines, points_cost=t.points_cost,
        )


@strawberry.type
class CouponMember:
    id: strawberry.ID


@strawberry.type
class CouponOrder:
    id: strawberry.ID


@strawberry.type
class Coupon:
    id: strawberry.ID
    code: str
    status: CouponStatusEnum
    source: str
    valid_from: dt.datetime
    valid_to: dt.datetime = strawberry.field(description="The first instant it is no longer valid")
    discount: Fen = strawberry.field(description="What it took off the order that redeemed it")
    redeemed_at: dt.datetime | None
    member: CouponMember
    redeemed_order: CouponOrder | None
    template_pk: strawberry.Private[int]

    @strawberry.field
    async def template(self, info: Info) -> CouponTemplate:
        return CouponTemplate.of(await info.context.loaders.coupon_template.load(self.template_pk))

    @strawberry.field(description="What the member's QR code shows: the code signed by the server")
    def qr_payload(self, info: Info) -> str:
        return resolvers.qr_payload(info.context, self.code)

    @staticmethod
    def of(row) -> "Coupon":
        return Coupon(
            id=to_global_id("Coupon", row.id), code=row.code, status=status_of(row, utcnow()), source=row.source, valid_from=row.valid_from,
            valid_to=row.valid_to, discount=row.discount, redeemed_at=row.redeemed_at, member=CouponMember(id=to_global_id("Member", row.member_id)),
            redeemed_order=CouponOrder(id=to_global_id("Order", row.order_id)) if row.order_id else None, template_pk=row.template_id,
        )


RuleTriggerEnum = strawberry.enum(RuleTrigger, name="CouponRuleTrigger")


@strawberry.type(description="A brand rule that issues coupons by itself: on registration (注册礼), or a FREE_SERVICE coupon after every visitCount paid units of a service (消费满N次送1次)")
class CouponRule:
    id: strawberry.ID
    trigger: RuleTriggerEnum
    template_id: strawberry.ID
    service_id: strawberry.ID | None
    visit_count: int | None
    active: bool

    @staticmethod
    def of(r) -> "CouponRule":
        return CouponRule(id=to_global_id("CouponRule", r.id), trigger=RuleTrigger(r.trigger), template_id=to_global_id("CouponTemplate", r.template_id),
                          service_id=to_global_id("Service", r.service_id) if r.service_id else None, visit_count=r.visit_count, active=r.active)


@strawberry.input
class CreateCouponRuleInput:
    trigger: RuleTriggerEnum
    template_id: strawberry.ID
    service_id: strawberry.ID | None = None
    visit_count: int | None = None


@strawberry.type
class CouponRulePayload:
    rule: CouponRule | None
    errors: list[UserError]


@strawberry.type(description="扫码核销: what the coupon would take off the order, or every reason it does not apply")
class CouponCheck:
    applicable: bool
    discount: Fen
    reasons: list[str] = strawberry.field(description="Error codes: COUPON_EXPIRED, COUPON_THRESHOLD_NOT_MET, …")
    coupon: Coupon | None


@strawberry.input
class CreateCouponTemplateInput:
    name: str
    kind: CouponKindEnum
    threshold: Fen | None = None
    amount_off: Fen | None = None
    percent_off: int | None = strawberry.field(default=None, description="Taken off: 20 is 8折")
    max_discount: Fen | None = None
    service_ids: list[strawberry.ID] | None = None
    buy_count: int | None = None
    store_ids: list[strawberry.ID] | None = None
    valid_days: int | None = strawberry.field(default=None, description="Local days from issue, today the first")
    valid_from: dt.date | None = None
    valid_to: dt.date | None = strawberry.field(default=None, description="The last local day it is valid")
    per_member_limit: int | None = None
    total_limit: int | None = None
    stacks_with_card_discount: bool | None = True
    combines: bool | None = False
    points_cost: int | None = None


@strawberry.type
class CouponTemplatePayload:
    template: CouponTemplate | None
    errors: list[UserError]


@strawberry.input
class IssueCouponsInput:
    template_id: strawberry.ID
    idempotency_key: str
    member_ids: list[strawberry.ID] | None = None
    segment_id: strawberry.ID | None = None


@strawberry.type
class IssueCouponsPayload:
    issued_count: int
    skipped_count: int
    coupons: list[Coupon]
    errors: list[UserError]


@strawberry.input
class ExchangePointsInput:
    member_id: strawberry.ID
    template_id: strawberry.ID
    idempotency_key: str


@strawberry.input
class MyExchangePointsInput:
    template_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class ExchangePointsPayload:
    coupon: Coupon | None
    errors: list[UserError]


@strawberry.type
class CouponQuery:
    @strawberry.field
    async def coupon_templates(self, info: Info) -> list[CouponTemplate]:
        return [CouponTemplate.of(t) for t in await resolvers.list_templates(info.context)]

    @strawberry.field
    async def coupon_rules(self, info: Info) -> list[CouponRule]:
        return [CouponRule.of(r) for r in await resolvers.list_rules(info.context)]

    @strawberry.field(description="How many coupons issueCoupons would issue to these members now (limits and the key's batch counted)")
    async def coupon_issue_preview(self, info: Info, template_id: strawberry.ID, member_ids: list[strawberry.ID],
                                   idempotency_key: str | None = None) -> int:
        return await resolvers.issue_preview(info.context, template_id=template_id, member_ids=member_ids, idempotency_key=idempotency_key)

    @strawberry.field(description="A coupon by its code or scanned QR payload")
    async def coupon(self, info: Info, code: str) -> Coupon | None:
        row = await resolvers.coupon(info.context, code=code)
        return Coupon.of(row) if row is not None else None

    @strawberry.field
    async def coupon_check(self, info: Info, order_id: strawberry.ID, code: str, other_codes: list[str] | None = None) -> CouponCheck:
        found = await resolvers.coupon_check(info.context, order_id=order_id, code=code, other_codes=other_codes)
        return CouponCheck(applicable=found.applicable, discount=found.discount if found.applicable else 0, reasons=found.reasons,
                           coupon=Coupon.of(found.coupon) if found.coupon is not None else None)


async def _coupons(info: Info, ids: list[int]) -> list[Coupon]:
    return [Coupon.of(await resolvers.coupon_row(info.context, i)) for i in ids]


@strawberry.type
class CouponMutation:
    @strawberry.mutation
    async def create_coupon_template(self, info: Info, input: CreateCouponTemplateInput) -> CouponTemplatePayload:
        fields = {k: v for k, v in vars(input).items() if v is not None}
        fields["kind"] = CouponKind(input.kind.value if hasattr(input.kind, "value") else input.kind)
        outcome = await resolvers.create_template(info.context, fields=fields)
        return CouponTemplatePayload(template=CouponTemplate.of(outcome.value) if outcome.ok else None,
                                     errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def create_coupon_rule(self, info: Info, input: CreateCouponRuleInput) -> CouponRulePayload:
        outcome = await resolvers.create_rule(info.context, trigger=RuleTrigger(input.trigger).value, template_id=input.template_id,
                                              service_id=input.service_id, visit_count=input.visit_count)
        return CouponRulePayload(rule=CouponRule.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="发券 to members; idempotent on idempotencyKey (a retry gives nobody a second coupon)")
    async def issue_coupons(self, info: Info, input: IssueCouponsInput) -> IssueCouponsPayload:
        outcome = await resolvers.issue(info.context, template_id=input.template_id, member_ids=input.member_ids, segment_id=input.segment_id,
                                        idempotency_key=input.idempotency_key)
        if not outcome.ok:
            return IssueCouponsPayload(issued_count=0, skipped_count=0, coupons=[], errors=user_errors(outcome.errors, info.context.lang))
        return IssueCouponsPayload(issued_count=len(outcome.value["issued"]), skipped_count=outcome.value["skipped"],
                                   coupons=await _coupons(info, outcome.value["issued"]), errors=[])

    @strawberry.mutation(description="积分兑换 for a member: spends the template's pointsCost; idempotent on idempotencyKey")
    async def exchange_points(self, info: Info, input: ExchangePointsInput) -> ExchangePointsPayload:
        outcome = await resolvers.exchange_points(info.context, member_id=input.member_id, template_id=input.template_id,
                                                  idempotency_key=input.idempotency_key)
        return ExchangePointsPayload(coupon=(await _coupons(info, [outcome.value]))[0] if outcome.ok else None,
                                     errors=user_errors(outcome.errors, info.context.lang))


@strawberry.type
class MpCouponQuery:
    @strawberry.field(description="Coupons the customer can exchange points for")
    async def coupon_templates(self, info: Info) -> list[CouponTemplate]:
        return [CouponTemplate.of(t) for t in await resolvers.exchangeable_templates(info.context)]


@strawberry.type
class MpCouponMutation:
    @strawberry.mutation(description="积分兑换: the customer's own points for a coupon; idempotent on idempotencyKey")
    async def exchange_points(self, info: Info, input: MyExchangePointsInput) -> ExchangePointsPayload:
        outcome = await resolvers.my_exchange_points(info.context, template_id=input.template_id, idempotency_key=input.idempotency_key)
        return ExchangePointsPayload(coupon=(await _coupons(info, [outcome.value]))[0] if outcome.ok else None,
                                     errors=user_errors(outcome.errors, info.context.lang))


async def my_coupons(info: Info, member_pk: int) -> list[Coupon]:
    return [Coupon.of(r) for r in await info.context.loaders.coupons_by_member.load(member_pk)]
