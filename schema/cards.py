"""Cashing out cards (退卡)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import cards as resolvers
from schema.errors import UserError, user_errors
from schema.scalars import Fen
from schema.types import CountCard, StoredValueCard, TenderEnum


@strawberry.input
class CashOutCardInput:
    card_id: strawberry.ID
    tender: TenderEnum = strawberry.field(description="How the principal is paid out")
    reason: str
    idempotency_key: str


@strawberry.type
class CashOutCardPayload:
    paid_out: Fen | None = strawberry.field(description="The principal paid out")
    gift_forfeited: Fen | None = strawberry.field(description="The gift balance given up")
    card: StoredValueCard | None
    errors: list[UserError]


@strawberry.input
class CashOutCountCardInput:
    count_card_id: strawberry.ID
    tender: TenderEnum
    reason: str
    idempotency_key: str


@strawberry.type
class CashOutCountCardPayload:
    value_left: Fen | None = strawberry.field(description="The card's unused value: sessions left, or time left pro rata")
    fee: Fen | None = strawberry.field(description="The brand's cash-out fee kept out of it")
    paid_out: Fen | None
    count_card: CountCard | None
    errors: list[UserError]


@strawberry.type
class CashOutMutation:
    @strawberry.mutation(description="退卡: pay out the principal left, forfeit the gift, close the card; one outcome per idempotencyKey")
    async def cash_out_card(self, info: Info, input: CashOutCardInput) -> CashOutCardPayload:
        outcome = await resolvers.cash_out_card(info.context, card_id=input.card_id, tender=input.tender, reason=input.reason,
                                                idempotency_key=input.idempotency_key)
        if not outcome.ok:
            return CashOutCardPayload(paid_out=None, gift_forfeited=None, card=None, errors=user_errors(outcome.errors, info.context.lang))
        done = outcome.value
        card = StoredValueCard.of(await info.context.loaders.card.load(done["card_id"]))
        return CashOutCardPayload(paid_out=done["paid_out"], gift_forfeited=done["gift_forfeited"], card=card, errors=[])

    @strawberry.mutation(description="次卡退卡: the unused value minus the brand's fee, where the brand allows it")
    async def cash_out_count_card(self, info: Info, input: CashOutCountCardInput) -> CashOutCountCardPayload:
        outcome = await resolvers.cash_out_count_card(info.context, count_card_id=input.count_card_id, tender=input.tender,
                                                      reason=input.reason, idempotency_key=input.idempotency_key)
        if not outcome.ok:
            return CashOutCountCardPayload(value_left=None, fee=None, paid_out=None, count_card=None, errors=user_errors(outcome.errors, info.context.lang))
        done = outcome.value
        return CashOutCountCardPayload(value_left=done["value_left"], fee=done["fee"], paid_out=done["paid_out"],
                                       count_card=CountCard.of(done["count_card"]), errors=[])
