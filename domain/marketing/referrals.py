"""Referrals (邀请好友): every member has a referral code (domain.members.members); a friend who
registers with it, at the desk or by binding their phone in the mini-program, is linked to the
referrer once. When the friend's first paid order completes, both get the brand's reward (points
and/or a coupon), exactly once; a full refund of that order takes the rewards back (points, never
below zero; a reward coupon is voided if it is still unused).

The rewards happen in `meiye worker`, from the sales area's outbox events ('order.paid',
'order.refunded'), never inside the checkout: the referral row's conditional update decides which
event rewards (the first order's only), the points' unique references and the coupon batch make
each reward once, and the outbox delivers each event to this consumer once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit, outbox
from domain.actor import Actor
from domain.db import Id, UtcDateTime, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.marketing import coupon_rewards
from domain.members import customers, points
from domain.members.customers import Customer
from domain.members.members import REFERRAL_CODE_LENGTH, members, register_member
from domain.members.pii import PiiCipher, normalise_phone
from domain.members.points import PointsKind
from domain.outbox import Event
from domain.sales.orders import OrderStatus, orders

CONSUMER_NAME = "marketing.referrals"
MAX_REWARD_POINTS = 1_000_000
# What a brand that never set its reward gives: 100 points to each side.
DEFAULT_POINTS = 100

referrals = Table(
    "referrals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("referrer_id", Id, ForeignKey("members.id"), nullable=False, index=True),
    Column("friend_id", Id, ForeignKey("members.id"), nullable=False),
    Column("channel", String(20), nullable=False),  # DESK or MINI_PROGRAM
    # Set once, by the friend's first paid order: who was rewarded with what, to take back exactly that.
    Column("rewarded_order_id", Id, ForeignKey("orders.id"), nullable=True),
    Column("rewarded_at", UtcDateTime(), nullable=True),
    Column("referrer_points", Id, nullable=False, default=0),
    Column("friend_points", Id, nullable=False, default=0),
    Column("referrer_template_id", Id, nullable=True),
    Column("friend_template_id", Id, nullable=True),
    Column("reversed_at", UtcDateTime(), nullable=True),
    created_at_column(),
    UniqueConstraint("friend_id"),
)

# The brand's reward; a brand without a row gives DEFAULT_POINTS to each side and no coupon.
referral_rewards = Table(
    "referral_rewards",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("referrer_points", Id, nullable=False),
    Column("friend_points", Id, nullable=False),
    Column("referrer_template_id", Id, nullable=True),
    Column("friend_template_id", Id, nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id"),
)


@dataclass(frozen=True)
class Reward:
    referrer_points: int
    friend_points: int
    referrer_template_id: int | None
    friend_template_id: int | None


async def reward_of(db: AsyncConnection, brand_id: int) -> Reward:
    row = (await db.execute(select(referral_rewards).where(referral_rewards.c.brand_id == brand_id))).first()
    if row is None:
        return Reward(DEFAULT_POINTS, DEFAULT_POINTS, None, None)
    return Reward(row.referrer_points, row.friend_points, row.referrer_template_id, row.friend_template_id)


async def set_reward(db: AsyncConnection, actor: Actor, reward: Reward) -> Reward:
    for name, value in (("referrerPoints", reward.referrer_points), ("friendPoints", reward.friend_points)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REWARD_POINTS:
            raise DomainError("INVALID_VALUE", name, what=f"奖励积分（0-{MAX_REWARD_POINTS}）")
    for name, template_id in (("referrerCouponTemplateId", reward.referrer_template_id), ("friendCouponTemplateId", reward.friend_template_id)):
        if template_id is not None:
            await coupon_rewards.check_template(db, actor, template_id, name)
    before = await reward_of(db, actor.brand_id)
    values = {"referrer_points": reward.referrer_points, "friend_points": reward.friend_points,
              "referrer_template_id": reward.referrer_template_id, "friend_template_id": reward.friend_template_id}
    inserted = await db.execute(insert_ignoring_conflicts(db, referral_rewards).values(brand_id=actor.brand_id, created_at=utcnow(), **values))
    if inserted.rowcount != 1:
        await db.execute(update(referral_rewards).where(referral_rewards.c.brand_id == actor.brand_id).values(**values))
    await audit.record(db, actor, "referral.reward", "brand", actor.brand_id, before=before.__dict__, after=values)
    return reward


def clean_code(code: str | None) -> str | None:
    text = (code or "").strip().upper()
    if not text:
        return None
    if len(text) > REFERRAL_CODE_LENGTH * 2:
        raise DomainError("REFERRAL_CODE_NOT_FOUND", "referralCode")
    return text


async def _referrer(db: AsyncConnection, brand_id: int, code: str) -> int:
    referrer_id = await db.scalar(select(members.c.id).where(members.c.brand_id == brand_id, members.c.referral_code == code))
    if referrer_id is None:
        raise DomainError("REFERRAL_CODE_NOT_FOUND", "referralCode")
    return referrer_id


async def _link(db: AsyncConnection, actor: Actor, *, referrer_id: int, friend_id: int, channel: str) -> int:
    if referrer_id == friend_id:
        raise DomainError("REFERRAL_SELF", "referralCode")
    linked = await db.execute(
        insert_ignoring_conflicts(db, referrals).values(
            brand_id=actor.brand_id, referrer_id=referrer_id, friend_id=friend_id, channel=channel, referrer_points=0, friend_points=0,
            created_at=utcnow(),
        ).returning(referrals.c.id)
    )
    referral_id = linked.scalar()
    if referral_id is None:
        raise DomainError("REFERRAL_ALREADY_LINKED", "referralCode")
    await audit.record(db, actor, "referral.link", "member", friend_id, after={"referrer": referrer_id, "channel": channel})
    return referral_id


async def register_referred(
    db: AsyncConnection, actor: Actor, cipher: PiiCipher, *, referral_code: str | None, **registration,
) -> int:
    """registerMember at the desk, with the referral code the friend brought (if any). A phone
    already registered is PHONE_TAKEN, with or without a code: only new members are referred."""
    code = clean_code(referral_code)
    referrer_id = await _referrer(db, actor.brand_id, code) if code else None
    member_id = await register_member(db, actor, cipher, **registration)
    if referrer_id is not None:
        await _link(db, actor, referrer_id=referrer_id, friend_id=member_id, channel="DESK")
    return member_id


async def bind_phone_referred(
    db: AsyncConnection, cipher: PiiCipher, customer: Customer, *, verified_phone: str, name: str | None, consent: bool,
    referral_code: str | None,
) -> int:
    """bindPhone in the mini-program, with a friend's referral code (if any). The code links only a
    phone that is not a member yet: an existing member binding with a code is refused and nothing
    is bound, so the customer can bind again without it."""
    code = clean_code(referral_code)
    referrer_id = await _referrer(db, customer.brand_id, code) if code else None
    if referrer_id is not None:
        phone = normalise_phone(verified_phone, "phoneCode")
        existing = await db.scalar(select(members.c.id).where(members.c.brand_id == customer.brand_id, members.c.phone_index == cipher.phone_index(phone)))
        if existing is not None:
            raise DomainError("REFERRAL_NOT_NEW_MEMBER", "referralCode")
    member_id = await customers.bind_phone(db, cipher, customer, verified_phone=verified_phone, name=name, consent=consent)
    if referrer_id is not None:
        await _link(db, customers.system_actor(customer.brand_id), referrer_id=referrer_id, friend_id=member_id, channel="MINI_PROGRAM")
    return member_id


async def referred_by(db: AsyncConnection, member_ids: list[int]) -> dict[int, int]:
    """Who referred each of these members (friend id -> referrer id)."""
    rows = await db.execute(select(referrals.c.friend_id, referrals.c.referrer_id).where(referrals.c.friend_id.in_(member_ids)))
    return dict(rows.all())


# ---------------------------------------------------------------------------------------------
# The consumer in `meiye worker`


async def handle(db: AsyncConnection, event: Event) -> None:
    if event.kind == "order.paid":
        await _reward(db, event)
    elif event.kind == "order.refunded" and event.payload.get("fully_refunded"):
        await _take_back(db, event)


CONSUMER = outbox.Consumer(CONSUMER_NAME, ("order.paid", "order.refunded"), handle)


async def _locked_referral(db: AsyncConnection, brand_id: int, friend_id: int):
    """The friend's referral under its row lock: rewarding and taking back serialise on it, and
    each reads what the other committed (PostgreSQL; SQLite writers are serial anyway)."""
    return (await db.execute(
        select(referrals).where(referrals.c.friend_id == friend_id, referrals.c.brand_id == brand_id).with_for_update()
    )).first()


async def _reward(db: AsyncConnection, event: Event) -> None:
    friend_id = event.payload.get("member_id")
    order_id = event.payload["order_id"]
    if friend_id is None:
        return
    referral = await _locked_referral(db, event.brand_id, friend_id)
    if referral is None or referral.rewarded_order_id is not None:
        return
    first_order = (await db.execute(
        select(orders.c.id, orders.c.status).where(orders.c.member_id == friend_id, orders.c.paid_at.is_not(None))
        .order_by(orders.c.paid_at, orders.c.id).limit(1)
    )).first()
    # Only the first paid order rewards, and not when it was wholly refunded before we got here.
    if first_order is None or first_order.id != order_id or first_order.status == OrderStatus.REFUNDED.value:
        return
    reward = await reward_of(db, event.brand_id)
    claimed = await db.execute(
        update(referrals).where(referrals.c.id == referral.id, referrals.c.rewarded_order_id.is_(None)).values(
            rewarded_order_id=order_id, rewarded_at=utcnow(), referrer_points=reward.referrer_points, friend_points=reward.friend_points,
            referrer_template_id=reward.referrer_template_id, friend_template_id=reward.friend_template_id,
        )
    )
    if claimed.rowcount != 1:
        return
    store_id = event.payload.get("store_id")
    for side, member_id, amount, template_id in (("referrer", referral.referrer_id, reward.referrer_points, reward.referrer_template_id),
                                                 ("friend", friend_id, reward.friend_points, reward.friend_template_id)):
        if amount:
            await points.change(db, brand_id=event.brand_id, member_id=member_id, delta=amount, kind=PointsKind.REFERRAL_REWARD,
                                order_id=order_id, store_id=store_id, reason="邀请好友奖励", reference=f"referral:{referral.id}:{side}")
        if template_id is not None:
            await coupon_rewards.issue(db, event.brand_id, template_id=template_id, member_id=member_id, batch_key=f"referral:{referral.id}:{side}")


async def _take_back(db: AsyncConnection, event: Event) -> None:
    order_id = event.payload["order_id"]
    friend_id = event.payload.get("member_id")
    if friend_id is None:
        return
    referral = await _locked_referral(db, event.brand_id, friend_id)
    if referral is None or referral.rewarded_order_id != order_id or referral.reversed_at is not None:
        return
    await db.execute(update(referrals).where(referrals.c.id == referral.id).values(reversed_at=utcnow()))
    for side, member_id, amount, template_id in (("referrer", referral.referrer_id, referral.referrer_points, referral.referrer_template_id),
                                                 ("friend", referral.friend_id, referral.friend_points, referral.friend_template_id)):
        if amount:
            await points.change(db, brand_id=event.brand_id, member_id=member_id, delta=-amount, kind=PointsKind.REFERRAL_REVERSAL,
                                order_id=order_id, store_id=event.payload.get("store_id"), reason="好友首单全额退款",
                                reference=f"referral:{referral.id}:{side}:reversal", at_most_what_is_left=True)
        if template_id is not None:
            await coupon_rewards.void_unused(db, event.brand_id, batch_key=f"referral:{referral.id}:{side}")
