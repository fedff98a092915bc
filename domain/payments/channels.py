"""A brand's mini-program and merchant accounts on WeChat and Alipay. A SaaS serves many brands,
each with its own app ids and keys: they are kept per brand, the secrets sealed with the
deployment's data key so that a database dump does not hand out merchant keys."""

from __future__ import annotations

import json

from sqlalchemy import (
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, UtcDateTime, metadata, utcnow
from domain.members.customers import Channel
from domain.members.pii import PiiCipher

SEAL = b"meiye/brand-channel/v1"


brand_channels = Table(
    "brand_channels",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("app_id", String(40), nullable=False),
    Column("merchant_id", String(40), nullable=True),
    Column("sealed_config", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("channel", "app_id"),
    UniqueConstraint("brand_id", "channel"),
)


async def save_channel(
    db: AsyncConnection, cipher: PiiCipher, *, brand_id: int, channel: Channel, app_id: str, merchant_id: str | None, config: dict
) -> None:
    """Set the brand's account on this channel (replacing any earlier one)."""
    await db.execute(delete(brand_channels).where(brand_channels.c.brand_id == brand_id, brand_channels.c.channel == channel.value))
    await db.execute(delete(brand_channels).where(brand_channels.c.channel == channel.value, brand_channels.c.app_id == app_id))
    await db.execute(
        insert(brand_channels).values(
            brand_id=brand_id, channel=channel.value, app_id=app_id, merchant_id=merchant_id,
            sealed_config=cipher.encrypt(json.dumps(config), SEAL), updated_at=utcnow(),
        )
    )


async def load_channels(db: AsyncConnection, cipher: PiiCipher) -> list[dict]:
    rows = await db.execute(select(brand_channels).order_by(brand_channels.c.id))
    return [
        {"brand_id": r.brand_id, "channel": Channel(r.channel), "app_id": r.app_id, "merchant_id": r.merchant_id,
         "config": json.loads(cipher.decrypt(r.sealed_config, SEAL))}
        for r in rows
    ]
