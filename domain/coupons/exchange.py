"""积分兑换: a member spends points on a coupon of a template with a points cost, in one transaction
(the points entry and the coupon stand or fall together). Once per reference."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor
from domain.coupons.issuing import CouponSource, IssuedCoupon, issue_coupons
from domain.coupons.templates import get_template
from domain.errors import DomainError
from domain.members import points
from domain.members.members import get_member
from domain.members.points import PointsKind


async def exchange_points(db: AsyncConnection, actor: Actor, *, member_id: int, template_id: int, reference: str) -> IssuedCoupon:
    template = await get_template(db, actor.brand_id, template_id)
    if not template.points_cost:
        raise DomainError("COUPON_NOT_EXCHANGEABLE", "templateId")
    await get_member(db, actor, member_id)
    issued = await issue_coupons(db, actor, template_id=template_id, member_ids=[member_id], source=CouponSource.POINTS.value)
    if not issued.issued:
        raise DomainError("COUPON_NOT_ISSUED", "templateId")
    coupon = issued.issued[0]
    changed = await points.change(
        db, brand_id=actor.brand_id, member_id=member_id, delta=-template.points_cost, kind=PointsKind.EXCHANGED,
        staff_id=actor.staff_id, reason=f"兑换{template.name}", reference=reference,
    )
    if changed is None:
        raise DomainError("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    return coupon
