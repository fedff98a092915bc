"""The coupons area: templates, issuing, the desk's lookup and check, points exchange (both APIs)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from domain import idempotency
from domain.coupons import exchange, issuing, qr, reads, templates
from domain.coupons import rules as coupon_rules
from domain.coupons.issuing import CouponSource
from domain.coupons.templates import CouponKind, TemplateSpec
from domain.errors import DomainError
from domain.marketing import segments
from domain.members import customers
from domain.members.members import get_member
from domain.sales import coupon_check as checking
from resolvers.context import Context
from resolvers.errors import Outcome, QueryError
from resolvers.ids import decode_id

MAX_SCANNED = 5


def qr_key(settings) -> bytes:
    """The QR signing key, derived from the server's secret so that it is never the secret itself."""
    return hmac.new(settings.secret_key.encode(), b"meiye coupon qr v1", hashlib.sha256).digest()


def qr_payload(ctx, code: str) -> str:
    return qr.payload(code, qr_key(ctx.services.settings))


def scanned_codes(ctx, codes: list[str], field: str = "couponCodes") -> list[str]:
    """Codes typed or scanned: a signed QR payload is verified and unwrapped (altered: refused)."""
    key = qr_key(ctx.services.settings)
    return [qr.code_of(c, key, f"{field}.{i}") for i, c in enumerate(codes)]


def _ids(values: list[str] | None, type_name: str, field: str) -> tuple[int, ...]:
    return tuple(decode_id(v, type_name, f"{field}.{i}") for i, v in enumerate(values or []))


async def create_template(ctx: Context, *, fields: dict) -> Outcome:
    async def work(db, actor):
        spec = TemplateSpec(
            name=fields["name"], kind=CouponKind(fields["kind"]), threshold=fields.get("threshold"), amount_off=fields.get("amount_off"),
            percent_off=fields.get("percent_off"), max_discount=fields.get("max_discount"),
            service_ids=_ids(fields.get("service_ids"), "Service", "serviceIds"), buy_count=fields.get("buy_count"),
            store_ids=_ids(fields.get("store_ids"), "Store", "storeIds"), valid_days=fields.get("valid_days"),
            valid_from=fields.get("valid_from"), valid_to=fields.get("valid_to"), per_member_limit=fields.get("per_member_limit"),
            total_limit=fields.get("total_limit"), stacks_with_card_discount=fields.get("stacks_with_card_discount", True) is not False,
            combines=bool(fields.get("combines")), points_cost=fields.get("points_cost"),
        )
        template_id = await templates.create_template(db, actor, spec)
        return await templates.get_template(db, actor.brand_id, template_id)

    return await ctx.mutate("createCouponTemplate", work)


async def create_rule(ctx: Context, *, trigger: str, template_id: str, service_id: str | None, visit_count: int | None) -> Outcome:
    async def work(db, actor):
        rule_id = await coupon_rules.create_rule(
            db, actor, trigger=coupon_rules.RuleTrigger(trigger), template_id=decode_id(template_id, "CouponTemplate", "templateId"),
            service_id=decode_id(service_id, "Service", "serviceId") if service_id else None, visit_count=visit_count,
        )
        return next(r for r in await coupon_rules.list_rules(db, actor.brand_id) if r.id == rule_id)

    return await ctx.mutate("createCouponRule", work)


async def list_rules(ctx: Context) -> list:
    return await ctx.query("couponRules", lambda db, actor: coupon_rules.list_rules(db, actor.brand_id))


async def list_templates(ctx: Context) -> list:
    return await ctx.query("couponTemplates", lambda db, actor: templates.list_templates(db, actor.brand_id))


async def issue(ctx: Context, *, template_id: str, member_ids: list[str] | None, segment_id: str | None, idempotency_key: str) -> Outcome:
    """Issue to members (or a segment's members); the idempotency key is also the batch key, so a
    retry of the same issue gives nobody a second coupon."""
    request = {"templateId": template_id, "memberIds": member_ids, "segmentId": segment_id}

    async def work(db, actor):
        done, _ = await idempotency.once(db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="issueCoupons", request=request,
                                         run=lambda: run(db, actor))
        return done

    async def run(db, actor) -> dict:
        template_pk = decode_id(template_id, "CouponTemplate", "templateId")
        source = CouponSource.STAFF
        if segment_id is not None:
            # Segments are the marketing area's: the segment's members now.
            members = await segments.audience(db, actor, decode_id(segment_id, "Segment", "segmentId"))
            source = CouponSource.SEGMENT
        elif not member_ids:
            raise DomainError("REQUIRED", "memberIds", what="会员")
        else:
            members = list(_ids(member_ids, "Member", "memberIds"))
        result = await issuing.issue_coupons(db, actor, template_id=template_pk, member_ids=members, source=source.value,
                                             batch_key=idempotency.scoped_reference("issue", idempotency.staff_sender(actor.staff_id), idempotency_key))
        return {"issued": result.ids, "skipped": result.skipped, "skipped_by_reason": {str(k): v for k, v in result.skipped_by_reason.items()}}

    return await ctx.mutate("issueCoupons", work)


async def issue_preview(ctx: Context, *, template_id: str, member_ids: list[str], idempotency_key: str | None) -> int:
    """How many coupons issueCoupons with these arguments would issue now."""
    async def work(db, actor):
        return await issuing.would_issue(db, actor, template_id=decode_id(template_id, "CouponTemplate", "templateId"),
                                         member_ids=list(_ids(member_ids, "Member", "memberIds")),
                                         batch_key=idempotency.scoped_reference("issue", idempotency.staff_sender(actor.staff_id), idempotency_key) if idempotency_key else None)

    return await ctx.query("couponIssuePreview", work)


async def coupon(ctx: Context, *, code: str):
    """The coupon of a code or scanned payload, or None (another brand's is None too)."""
    actor = await ctx.authorize("coupon")
    try:
        plain = scanned_codes(ctx, [code], "code")[0]
    except DomainError as error:
        raise QueryError(error, ctx.lang) from None
    async with ctx.reads.reading() as db:
        return await reads.coupon_by_code(db, actor.brand_id, plain)


async def coupon_check(ctx: Context, *, order_id: str, code: str, other_codes: list[str] | None):
    async def work(db, actor):
        if len(other_codes or []) >= MAX_SCANNED:
            raise DomainError("TOO_MANY", "otherCodes", what="优惠券", max=MAX_SCANNED - 1)
        others = scanned_codes(ctx, other_codes or [], "otherCodes")
        plain = scanned_codes(ctx, [code], "code")[0]
        return await checking.coupon_check(db, actor, order_id=decode_id(order_id, "Order", "orderId"), code=plain, other_codes=others)

    return await ctx.query("couponCheck", work)


async def exchange_points(ctx: Context, *, member_id: str, template_id: str, idempotency_key: str) -> Outcome:
    request = {"memberId": member_id, "templateId": template_id}

    async def work(db, actor):
        done, _ = await idempotency.once(db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="exchangePoints",
                                         request=request, run=lambda: run(db, actor),
                                         guard=lambda: get_member(db, actor, decode_id(member_id, "Member", "memberId")))
        return done["coupon_id"]

    async def run(db, actor) -> dict:
        coupon = await exchange.exchange_points(db, actor, member_id=decode_id(member_id, "Member", "memberId"),
                                                template_id=decode_id(template_id, "CouponTemplate", "templateId"),
                                                reference=idempotency.scoped_reference("exchange", idempotency.staff_sender(actor.staff_id), idempotency_key))
        return {"coupon_id": coupon.id}

    return await ctx.mutate("exchangePoints", work)


async def coupon_row(ctx, coupon_id: int):
    async with ctx.reads.reading() as db:
        return (await reads.coupons_by_ids(db, [coupon_id]))[coupon_id]


async def my_exchange_points(ctx, *, template_id: str, idempotency_key: str) -> Outcome:
    """The customer spends their own points (mini-program)."""
    customer = await ctx.customer()
    request = {"templateId": template_id}
    try:
        if customer.member_id is None:
            raise DomainError("NOT_BOUND", "templateId")
        actor = customers.system_actor(customer.brand_id)
        async with ctx.reads.write_transaction() as db:
            async def run() -> dict:
                coupon = await exchange.exchange_points(db, actor, member_id=customer.member_id,
                                                        template_id=decode_id(template_id, "CouponTemplate", "templateId"),
                                                        reference=idempotency.scoped_reference("exchange", idempotency.customer_sender(customer.identity_id), idempotency_key))
                return {"coupon_id": coupon.id}

            done, _ = await idempotency.once(db, brand_id=customer.brand_id, sender=idempotency.customer_sender(customer.identity_id), key=idempotency_key,
                                            operation="mp.exchangePoints", request=request, run=run)
    except DomainError as error:
        return Outcome(errors=[error])
    return Outcome(value=done["coupon_id"])


async def exchangeable_templates(ctx) -> list:
    customer = await ctx.customer()
    async with ctx.reads.reading() as db:
        return [t for t in await templates.list_templates(db, customer.brand_id)
                if t.points_cost and (t.valid_to is None or t.valid_to > dt.datetime.now(dt.UTC))]
