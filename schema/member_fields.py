"""Member fields for store operations (issue 9) that schema.types' Member reads through, kept
here so that file stays small: the membership fee, the member card, the sealed profile and the
visit summary, each through a batched loader and its FIELD_ROLES row."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from domain.members import profiles
from domain.members.profiles import Gender
from domain.sales.visits import VisitSummary
from resolvers import member_operations as resolvers
from schema.scalars import Fen

GenderEnum = strawberry.enum(Gender, name="Gender")


@strawberry.input
class MembershipFeeInput:
    amount: Fen = strawberry.field(description="Must equal the brand's membership fee")
    tender: str = strawberry.field(description="CASH, BANK_CARD, WECHAT or ALIPAY")


@strawberry.type(description="会员费 paid at registration")
class MembershipFee:
    amount: Fen
    tender: str
    paid_at: dt.datetime
    refunded: bool
    refunded_at: dt.datetime | None


async def card_number(info: Info, member_id: int) -> str | None:
    return await info.context.loaders.member_card_number.load(member_id)


async def membership_fee(info: Info, member_id: int) -> MembershipFee | None:
    info.context.authorize_field("Member.membershipFee")
    fee = await info.context.loaders.membership_fee.load(member_id)
    if fee is None:
        return None
    return MembershipFee(amount=fee.amount, tender=fee.tender, paid_at=fee.created_at, refunded=fee.refund_transfer_id is not None,
                         refunded_at=fee.refunded_at)


async def profile_text(info: Info, member_id: int, name: str) -> str | None:
    info.context.authorize_field(f"Member.{name}")
    return profiles.read(info.context.cipher, await info.context.loaders.member_profile.load(member_id), name)


async def birthday(info: Info, member_id: int) -> dt.date | None:
    text = await profile_text(info, member_id, "birthday")
    return dt.date.fromisoformat(text) if text else None


async def gender(info: Info, member_id: int) -> Gender | None:
    text = await profile_text(info, member_id, "gender")
    return Gender(text) if text else None


async def visits(info: Info, member_id: int) -> VisitSummary:
    return await info.context.loaders.visit_summary.load(member_id)


def profile_changes(source) -> dict:
    """The profile fields an input names (strawberry leaves the others None)."""
    return {name: getattr(source, name) for name in profiles.FIELDS if getattr(source, name, None) is not None}


def registration_of(source) -> resolvers.Registration:
    fee = source.membership_fee
    return resolvers.Registration(membership_fee=(fee.amount, fee.tender) if fee is not None else None, card_number=source.card_number,
                                  profile=profile_changes(source), idempotency_key=source.idempotency_key)


