"""Customers of the mini-program: platform identities (a WeChat or Alipay open id) bound to the
brand's member with the verified phone. One member may hold both a WeChat and an Alipay identity."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    ForeignKey,
    String,
    Table,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor, Role
from domain.brands.stores import stores
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.members.members import members, register_member
from domain.members.pii import PiiCipher, normalise_phone


class Channel(enum.StrEnum):
    """The platform a customer signs in and pays with."""

    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"


customer_identities = Table(
    "customer_identities",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("app_id", String(40), nullable=False),
    Column("open_id", String(128), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True, index=True),
    created_at_column(),
    UniqueConstraint("channel", "app_id", "open_id"),
)


@dataclass(frozen=True, slots=True)
class Customer:
    """Who is asking on the mini-program: one platform identity, maybe bound to a member."""

    identity_id: int
    brand_id: int
    channel: Channel
    open_id: str
    member_id: int | None


def system_actor(brand_id: int, name: str = "小程序") -> Actor:
    """The actor of changes a customer or a platform causes: brand-wide, no staff account."""
    return Actor(staff_id=None, brand_id=brand_id, role=Role.OWNER, store_id=None, name=name)  # type: ignore[arg-type]


async def login(db: AsyncConnection, *, brand_id: int, channel: Channel, app_id: str, open_id: str) -> Customer:
    await db.execute(
        insert_ignoring_conflicts(db, customer_identities).values(
            brand_id=brand_id, channel=channel.value, app_id=app_id, open_id=open_id, created_at=utcnow()
        )
    )
    row = (
        await db.execute(
            select(customer_identities).where(
                customer_identities.c.channel == channel.value, customer_identities.c.app_id == app_id, customer_identities.c.open_id == open_id
            )
        )
    ).one()
    return Customer(row.id, row.brand_id, Channel(row.channel), row.open_id, row.member_id)


async def load(db: AsyncConnection, identity_id: int) -> Customer | None:
    row = (await db.execute(select(customer_identities).where(customer_identities.c.id == identity_id))).first()
    return Customer(row.id, row.brand_id, Channel(row.channel), row.open_id, row.member_id) if row else None


async def bind_phone(
    db: AsyncConnection, cipher: PiiCipher, customer: Customer, *, verified_phone: str, name: str | None, consent: bool
) -> int:
    """Bind this identity to the brand's member with this platform-verified phone, or register one.
    Only a number the platform verified reaches here, so binding to an existing member is safe."""
    phone = normalise_phone(verified_phone, "phoneCode")
    actor = system_actor(customer.brand_id)
    member_id = await db.scalar(
        select(members.c.id).where(members.c.brand_id == customer.brand_id, members.c.phone_index == cipher.phone_index(phone))
    )
    if member_id is None:
        if not consent:
            raise DomainError("CONSENT_REQUIRED", "consent")
        first_store = await db.scalar(select(stores.c.id).where(stores.c.brand_id == customer.brand_id).order_by(stores.c.id).limit(1))
        member_id = await register_member(
            db, actor, cipher, name=(name or "").strip() or f"顾客{phone[-4:]}", phone=phone, store_id=first_store, consent=True
        )
    if customer.member_id not in (None, member_id):
        raise DomainError("ALREADY_BOUND", "phoneCode")
    await db.execute(update(customer_identities).where(customer_identities.c.id == customer.identity_id).values(member_id=member_id))
    await audit.record(db, actor, "customer.bind_phone", "member", member_id, after={"channel": customer.channel.value, "identity": customer.identity_id})
    return member_id

