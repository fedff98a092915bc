"""Membership (入会, DESIGN.md §4): the brand's optional membership fee (会员费) taken with the
registration, and the card that identifies a member at the desk: a physical card number bound to
them, or the mini-program's e-card, a QR payload the server signs.

The fee is revenue of the registering store, one ledger transfer, in the registration's own
transaction: a fee that cannot be taken leaves no member behind. A manager may refund it once.

Card numbers are unique per brand for good: a number replaced (a lost card) stays on record as
REPLACED, so it finds nobody and cannot be bound again.

The e-card payload `MC1.<member id>.<expires, unix>.<signature>` is signed with HMAC-SHA256 under
a key the caller passes in (from the deployment's secret, never read here) over the brand, the
member and the expiry: another brand's, an altered or an old payload finds nobody. It lives for
QR_TTL, so a screenshot stops working; the mini-program asks for a fresh one."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import re

from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.operations import rules_of
from domain.brands.stores import get_store
from domain.db import Id, UtcDateTime, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.ledger.postings import AccountKind, Leg, ensure_accounts, post_transfer, store_account
from domain.members.members import get_member
from domain.validation import check_text

QR_TTL = dt.timedelta(minutes=10)
QR_PREFIX = "MC1"
_CARD_NUMBER = re.compile(r"^[A-Za-z0-9-]{4,32}$")
DESK_TENDERS = ("CASH", "BANK_CARD", "WECHAT", "ALIPAY")


class MemberCardStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    REPLACED = "REPLACED"


member_cards = Table(
    "member_cards",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("card_number", String(32), nullable=False),
    Column("status", String(10), nullable=False),
    Column("replaced_at", UtcDateTime(), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "card_number"),
    Index("ix_member_cards_member_id", "member_id"),
)

membership_fees = Table(
    "membership_fees",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False, unique=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("amount", Id, nullable=False),
    Column("tender", String(20), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("refund_transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    Column("refund_reason", String(200), nullable=True),
    Column("refunded_at", UtcDateTime(), nullable=True),
    created_at_column(),
    Index("ix_membership_fees_store_id_created_at", "store_id", "created_at"),
)


def check_card_number(card_number: str | None, field: str = "cardNumber") -> str:
    number = (card_number or "").strip().upper()
    if not _CARD_NUMBER.match(number):
        raise DomainError("INVALID_VALUE", field, what="会员卡号（4-32位字母、数字或-）")
    return number


async def take_fee(db: AsyncConnection, actor: Actor, *, member_id: int, store_id: int, amount: int | None, tender: str | None,
                   reference: str | None) -> int | None:
    """The registration's fee, if the brand asks one: exactly its amount, in a desk tender. Returns
    the transfer (None when the brand charges nothing and none was offered)."""
    fee = (await rules_of(db, actor.brand_id)).membership_fee
    if amount is None:
        if fee is not None:
            raise DomainError("MEMBERSHIP_FEE_REQUIRED", "membershipFee", amount=f"¥{fee / 100:,.2f}")
        return None
    if fee is None:
        raise DomainError("MEMBERSHIP_FEE_NOT_SET", "membershipFee.amount")
    if amount != fee:
        raise DomainError("MEMBERSHIP_FEE_MISMATCH", "membershipFee.amount", amount=f"¥{fee / 100:,.2f}")
    if tender not in DESK_TENDERS:
        raise DomainError("PAYMENT_INVALID", "membershipFee.tender", why="会员费只能用现金、银行卡、微信或支付宝支付")
    if not reference:
        raise DomainError("IDEMPOTENCY_KEY_REQUIRED", "idempotencyKey")
    specs = [store_account(AccountKind.STORE_TENDER, store_id, tender), store_account(AccountKind.STORE_REVENUE, store_id)]
    ids = await ensure_accounts(db, actor.brand_id, specs)
    transfer_id, _ = await post_transfer(
        db, brand_id=actor.brand_id, kind="MEMBERSHIP_FEE", reference=reference,
        legs=[Leg(ids[specs[0].code], amount), Leg(ids[specs[1].code], -amount)],
        store_id=store_id, staff_id=actor.staff_id, member_id=member_id, memo=tender,
    )
    await db.execute(insert(membership_fees).values(
        brand_id=actor.brand_id, member_id=member_id, store_id=store_id, amount=amount, tender=tender, transfer_id=transfer_id,
        staff_id=actor.staff_id, created_at=utcnow(),
    ))
    await audit.record(db, actor, "member.membership_fee", "member", member_id, after={"amount": amount, "tender": tender}, store_id=store_id)
    return transfer_id


async def refund_fee(db: AsyncConnection, actor: Actor, *, member_id: int, reason: str, reference: str) -> int:
    """Give the fee back in the tender it was paid in, from the store that took it; the refund transfer."""
    reason = check_text(reason, "reason", "退款原因", 200)
    await get_member(db, actor, member_id)
    paid = (await db.execute(select(membership_fees).where(membership_fees.c.member_id == member_id).with_for_update())).first()
    if paid is None:
        raise DomainError("MEMBERSHIP_FEE_NOT_PAID", "memberId")
    await get_store(db, actor, paid.store_id, field="memberId")
    if paid.refund_transfer_id is not None:
        raise DomainError("MEMBERSHIP_FEE_REFUNDED", "memberId")
    specs = [store_account(AccountKind.STORE_TENDER, paid.store_id, paid.tender), store_account(AccountKind.STORE_REVENUE, paid.store_id)]
    ids = await ensure_accounts(db, actor.brand_id, specs)
    transfer_id, _ = await post_transfer(
        db, brand_id=actor.brand_id, kind="MEMBERSHIP_FEE_REFUND", reference=reference,
        legs=[Leg(ids[specs[1].code], paid.amount), Leg(ids[specs[0].code], -paid.amount)],
        store_id=paid.store_id, staff_id=actor.staff_id, member_id=member_id, memo=paid.tender, reverses_id=paid.transfer_id,
    )
    moved = await db.execute(update(membership_fees).where(membership_fees.c.id == paid.id, membership_fees.c.refund_transfer_id.is_(None))
                             .values(refund_transfer_id=transfer_id, refund_reason=reason, refunded_at=utcnow()))
    if moved.rowcount != 1:
        raise DomainError("MEMBERSHIP_FEE_REFUNDED", "memberId")
    await audit.record(db, actor, "member.membership_fee_refund", "member", member_id, before={"amount": paid.amount},
                       after={"refunded": paid.amount, "tender": paid.tender, "reason": reason}, store_id=paid.store_id)
    return transfer_id


async def fees_by_member_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.member_id: r for r in await db.execute(select(membership_fees).where(membership_fees.c.member_id.in_(ids)))}


async def fee_summary(db: AsyncConnection, store_id: int, start: dt.datetime, end: dt.datetime) -> dict:
    """The daily close's membership fees at a store: taken that day, and refunded that day."""
    taken = (await db.execute(select(func.count(), func.coalesce(func.sum(membership_fees.c.amount), 0)).where(
        and_(membership_fees.c.store_id == store_id, membership_fees.c.created_at >= start, membership_fees.c.created_at < end)))).one()
    refunded = (await db.execute(select(func.count(), func.coalesce(func.sum(membership_fees.c.amount), 0)).where(
        and_(membership_fees.c.store_id == store_id, membership_fees.c.refunded_at >= start, membership_fees.c.refunded_at < end)))).one()
    return {"count": taken[0], "amount": taken[1], "refunded_count": refunded[0], "refunded": refunded[1]}


async def bind_card(db: AsyncConnection, actor: Actor, *, member_id: int, card_number: str) -> str:
    """Bind a physical card; a card the member already had is REPLACED (lost) and finds nobody after."""
    number = check_card_number(card_number)
    await get_member(db, actor, member_id)
    if await db.scalar(select(member_cards.c.id).where(member_cards.c.brand_id == actor.brand_id, member_cards.c.card_number == number)):
        raise DomainError("CARD_NUMBER_TAKEN", "cardNumber")
    old = await active_card_number(db, member_id)
    now = utcnow()
    if old is not None:
        await db.execute(update(member_cards).where(member_cards.c.member_id == member_id, member_cards.c.status == MemberCardStatus.ACTIVE.value)
                         .values(status=MemberCardStatus.REPLACED.value, replaced_at=now))
    from sqlalchemy.exc import IntegrityError

    try:
        async with db.begin_nested():
            await db.execute(insert(member_cards).values(brand_id=actor.brand_id, member_id=member_id, card_number=number,
                                                         status=MemberCardStatus.ACTIVE.value, created_at=now))
    except IntegrityError:
        # Another desk bound the same number between our check and our insert.
        raise DomainError("CARD_NUMBER_TAKEN", "cardNumber") from None
    await audit.record(db, actor, "member.bind_card", "member", member_id, before={"card_number": old}, after={"card_number": number})
    return number


async def active_card_number(db: AsyncConnection, member_id: int) -> str | None:
    return await db.scalar(select(member_cards.c.card_number).where(member_cards.c.member_id == member_id,
                                                                     member_cards.c.status == MemberCardStatus.ACTIVE.value))


async def card_numbers_by_member_ids(db: AsyncConnection, ids: list[int]) -> dict[int, str]:
    return dict((await db.execute(select(member_cards.c.member_id, member_cards.c.card_number).where(
        member_cards.c.member_id.in_(ids), member_cards.c.status == MemberCardStatus.ACTIVE.value))).all())


async def member_by_card(db: AsyncConnection, brand_id: int, card_number: str) -> int | None:
    number = (card_number or "").strip().upper()
    if len(number) > 32:
        raise DomainError("TOO_LONG", "cardNumber", what="会员卡号", max=32)
    return await db.scalar(select(member_cards.c.member_id).where(
        member_cards.c.brand_id == brand_id, member_cards.c.card_number == number, member_cards.c.status == MemberCardStatus.ACTIVE.value))


def _signature(key: bytes, brand_id: int, member_id: int, expires: int) -> str:
    digest = hmac.new(key, f"{QR_PREFIX}|{brand_id}|{member_id}|{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def card_qr_payload(key: bytes, *, brand_id: int, member_id: int, now: dt.datetime) -> str:
    expires = int((now + QR_TTL).timestamp())
    return f"{QR_PREFIX}.{member_id}.{expires}.{_signature(key, brand_id, member_id, expires)}"


def member_from_qr(key: bytes, *, brand_id: int, payload: str, now: dt.datetime) -> int:
    """The member a scanned e-card names; CARD_QR_INVALID for anything altered, foreign or
    malformed, CARD_QR_EXPIRED for a genuine one past its time."""
    parts = (payload or "").strip().split(".")
    if len(payload or "") > 200 or len(parts) != 4 or parts[0] != QR_PREFIX or not parts[1].isdigit() or not parts[2].isdigit():
        raise DomainError("CARD_QR_INVALID", "payload")
    member_id, expires = int(parts[1]), int(parts[2])
    if not hmac.compare_digest(parts[3], _signature(key, brand_id, member_id, expires)):
        raise DomainError("CARD_QR_INVALID", "payload")
    if expires < now.timestamp():
        raise DomainError("CARD_QR_EXPIRED", "payload")
    return member_id


def qr_key(secret: str) -> bytes:
    """The e-card signing key derived from the deployment's secret (the caller reads it)."""
    return hmac.new(secret.encode(), b"meiye/member-card-qr/v1", hashlib.sha256).digest()
