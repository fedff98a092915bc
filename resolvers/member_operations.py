"""What registration and member updates grow for store operations (issue 9): the membership fee,
the member card, the sealed profile; binding cards, finding members by card or e-card, refunding
the fee. Composed into resolvers.members' register and update, so their own code stays as it was."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain import idempotency
from domain.db import utcnow
from domain.members import membership, profiles
from domain.members.members import get_member
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id

# Who may write a profile field: whoever may read it (resolvers.permissions.FIELD_ROLES).
PROFILE_FIELDS = {"birthday": "Member.birthday", "gender": "Member.gender", "allergies": "Member.allergies",
                  "preferences": "Member.preferences", "notes": "Member.notes"}


@dataclass
class Registration:
    """The registration's additions; all optional."""

    membership_fee: tuple[int, str] | None = None  # (amount, tender)
    card_number: str | None = None
    profile: dict | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> dict:
        return {"fee": list(self.membership_fee) if self.membership_fee else None, "card": self.card_number,
                "profile": {k: str(v) for k, v in (self.profile or {}).items()}}


def check_profile_writes(ctx: Context, profile: dict | None) -> None:
    """A top-level FORBIDDEN for a field the caller's role may not read, before anything moves."""
    for name in profile or {}:
        ctx.authorize_field(PROFILE_FIELDS[name])


async def after_register(ctx: Context, db, actor, *, member_id: int, store_id: int, extra: Registration | None) -> None:
    """In the registration's transaction: a failure here leaves no member behind."""
    extra = extra or Registration()
    check_profile_writes(ctx, extra.profile)
    amount, tender = extra.membership_fee or (None, None)
    key = (extra.idempotency_key or "").strip()
    reference = idempotency.scoped_reference("membership", idempotency.staff_sender(actor.staff_id), key) if key else None
    await membership.take_fee(db, actor, member_id=member_id, store_id=store_id, amount=amount, tender=tender, reference=reference)
    if extra.card_number is not None:
        await membership.bind_card(db, actor, member_id=member_id, card_number=extra.card_number)
    await profiles.set_profile(db, actor, ctx.cipher, member_id=member_id, changes=extra.profile or {})


async def keyed(db, actor, extra: Registration | None, request: dict, register, guard) -> int:
    """Run `register()` (returning the member id) once per idempotency key when one is given:
    a registration that takes a fee moves money. `guard()` re-checks a replay's store."""
    key = extra.idempotency_key if extra else None
    if not key:
        return await register()

    async def run() -> dict:
        return {"member_id": await register()}

    done, _ = await idempotency.once(
        db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=key, operation="registerMember",
        request={**request, **extra.fingerprint()}, run=run, guard=guard,
    )
    return done["member_id"]


async def update_profile(ctx: Context, db, actor, *, member_id: int, profile: dict | None) -> None:
    check_profile_writes(ctx, profile)
    await profiles.set_profile(db, actor, ctx.cipher, member_id=member_id, changes=profile or {})


async def bind_card(ctx: Context, *, member_id: str, card_number: str) -> Outcome:
    async def work(db, actor):
        pk = decode_id(member_id, "Member", "memberId")
        await membership.bind_card(db, actor, member_id=pk, card_number=card_number)
        return await get_member(db, actor, pk)

    return await ctx.mutate("bindMemberCard", work)


async def member_by_card(ctx: Context, *, card_number: str):
    async def work(db, actor):
        found = await membership.member_by_card(db, actor.brand_id, card_number)
        return await get_member(db, actor, found) if found is not None else None

    return await ctx.query("memberByCard", work)


async def member_by_card_qr(ctx: Context, *, payload: str, now: dt.datetime | None = None):
    key = membership.qr_key(ctx.services.settings.secret_key)

    async def work(db, actor):
        member_id = membership.member_from_qr(key, brand_id=actor.brand_id, payload=payload, now=now or utcnow())
        return await get_member(db, actor, member_id, field="payload")

    return await ctx.query("memberByCardQr", work)


async def refund_fee(ctx: Context, *, member_id: str, reason: str, idempotency_key: str) -> Outcome:
    request = {"memberId": member_id, "reason": reason}

    async def work(db, actor):
        pk = decode_id(member_id, "Member", "memberId")

        async def run() -> dict:
            await membership.refund_fee(db, actor, member_id=pk, reason=reason,
                                        reference=idempotency.scoped_reference("membership-refund", idempotency.staff_sender(actor.staff_id), idempotency_key))
            return {"member_id": pk}

        async def may_see() -> None:
            fee = (await membership.fees_by_member_ids(db, [pk])).get(pk)
            await get_member(db, actor, pk)
            if fee is not None:
                from domain.brands.stores import get_store

                await get_store(db, actor, fee.store_id, field="memberId")

        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key,
            operation="refundMembershipFee", request=request, run=run, guard=may_see,
        )
        return await get_member(db, actor, done["member_id"])

    return await ctx.mutate("refundMembershipFee", work)


def card_qr_payload(secret: str, *, brand_id: int, member_id: int) -> str:
    return membership.card_qr_payload(membership.qr_key(secret), brand_id=brand_id, member_id=member_id, now=utcnow())
