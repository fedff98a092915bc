"""Manual points adjustments (积分调整): an owner, or the manager of the member's home store,
corrects a member's points with a reason; once per idempotency key, audited, a row of the points
ledger like every other change."""

from __future__ import annotations

from domain import audit, idempotency
from domain.actor import Actor
from domain.errors import DomainError
from domain.members import points
from domain.members.members import get_member
from domain.members.points import PointsKind
from domain.validation import check_text


async def adjust_points(db, actor: Actor, *, member_id: int, delta: int, reason: str, idempotency_key: str) -> dict:
    """Returns {"delta", "points_after"} of the adjustment (the first one's, on a replay). A take
    beyond the member's points is INSUFFICIENT_POINTS: a correction never hides a negative balance."""
    request = {"member_id": member_id, "delta": delta, "reason": reason}

    async def run() -> dict:
        points.check_adjustment(delta, reason)
        text = check_text(reason, "reason", "调整原因", 200)
        member = await get_member(db, actor, member_id)
        if not actor.can_act_for_store(member.registered_store_id):
            raise DomainError("STORE_FORBIDDEN", "memberId")
        try:
            changed = await points.change(db, brand_id=actor.brand_id, member_id=member_id, delta=delta, kind=PointsKind.ADJUSTMENT,
                                          store_id=member.registered_store_id, staff_id=actor.staff_id, reason=text)
        except DomainError as error:
            raise DomainError(error.code, "delta", **error.params) from None
        await audit.record(db, actor, "member.points_adjust", "member", member_id, before={"points": member.points},
                           after={"points": changed.points_after, "delta": delta, "reason": text}, store_id=member.registered_store_id)
        return {"delta": changed.delta, "points_after": changed.points_after}

    async def may_adjust() -> None:
        # A replay answers only someone who may still adjust this member's points.
        member = await get_member(db, actor, member_id)
        if not actor.can_act_for_store(member.registered_store_id):
            raise DomainError("STORE_FORBIDDEN", "memberId")

    result, _ = await idempotency.once(db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key,
                                       operation="adjustPoints", request=request, run=run, guard=may_adjust)
    return result
