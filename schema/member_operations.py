"""What members grow for store operations (issue 9): the membership fee, the member card and
e-card, the sealed profile and the visit summary; binding cards, finding a member by card or
scanned e-card, refunding the fee."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import member_operations as resolvers
from schema.errors import UserError, user_errors
from schema.types import Member


@strawberry.input
class BindMemberCardInput:
    member_id: strawberry.ID
    card_number: str


@strawberry.input
class RefundMembershipFeeInput:
    member_id: strawberry.ID
    reason: str
    idempotency_key: str


@strawberry.type
class MemberCardPayload:
    member: Member | None
    errors: list[UserError]


def _payload(info: Info, outcome) -> MemberCardPayload:
    return MemberCardPayload(member=Member.of(outcome.value, info) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


@strawberry.type
class MemberOperationsQuery:
    @strawberry.field(description="The desk's card scanner: the member a physical card number is bound to now")
    async def member_by_card(self, info: Info, card_number: str) -> Member | None:
        row = await resolvers.member_by_card(info.context, card_number=card_number)
        return Member.of(row, info) if row is not None else None

    @strawberry.field(description="The desk's scanner on a mini-program e-card (me.cardQrPayload); altered or expired payloads are refused")
    async def member_by_card_qr(self, info: Info, payload: str) -> Member | None:
        row = await resolvers.member_by_card_qr(info.context, payload=payload)
        return Member.of(row, info) if row is not None else None


@strawberry.type
class MemberOperationsMutation:
    @strawberry.mutation(description="Bind a physical member card; a card already bound is replaced (lost) and its number refused after")
    async def bind_member_card(self, info: Info, input: BindMemberCardInput) -> MemberCardPayload:
        return _payload(info, await resolvers.bind_card(info.context, member_id=input.member_id, card_number=input.card_number))

    @strawberry.mutation(description="退会员费: once, by a manager, in the tender it was paid in; one outcome per idempotencyKey")
    async def refund_membership_fee(self, info: Info, input: RefundMembershipFeeInput) -> MemberCardPayload:
        return _payload(info, await resolvers.refund_fee(info.context, member_id=input.member_id, reason=input.reason,
                                                         idempotency_key=input.idempotency_key))
