"""The payment intents (one per WeChat Pay / Alipay payment) and the platform events recorded
against them: the rows that the callback path, platform refunds and reconciliation all read."""

from __future__ import annotations

import enum

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from domain.db import Id, UtcDateTime, created_at_column, metadata


class IntentStatus(enum.StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    CLOSED = "CLOSED"
    MISMATCH = "MISMATCH"
    REFUNDED = "REFUNDED"


class Purpose(enum.StrEnum):
    TOP_UP = "TOP_UP"
    BUY_COUNT_CARD = "BUY_COUNT_CARD"


payment_intents = Table(
    "payment_intents",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("item_id", Id, nullable=False),
    Column("amount", Id, nullable=False),
    Column("out_trade_no", String(32), nullable=False, unique=True),
    Column("app_id", String(40), nullable=False),
    Column("merchant_id", String(40), nullable=True),
    Column("payer_id", String(128), nullable=False),
    Column("status", String(10), nullable=False),
    Column("platform_trade_no", String(64), nullable=True),
    Column("client_params", Text, nullable=True),
    Column("result_id", Id, nullable=True),
    Column("refunded", Id, nullable=False, default=0),
    Column("flag", String(200), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("paid_at", UtcDateTime(), nullable=True),
    Column("next_query_at", UtcDateTime(), nullable=True),
    created_at_column(),
    Index("ix_payment_intents_status_next_query_at", "status", "next_query_at"),
)


payment_events = Table(
    "payment_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("intent_id", Id, ForeignKey("payment_intents.id"), nullable=True),
    Column("out_trade_no", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("detail", String(300), nullable=True),
    created_at_column(),
    UniqueConstraint("channel", "event_id"),
)
