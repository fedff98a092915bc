"""The brand's rules that issue coupons by themselves: on registration (注册礼) and visit rewards
(消费满N次送1次: a FREE_SERVICE coupon after every N paid units of a service, once per Nth).
First top-up gifts (首充礼) ride on the card product's top-up rules (domain.cards.stored_value)."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, created_at_column, metadata


class RuleTrigger(enum.StrEnum):
    REGISTRATION = "REGISTRATION"
    VISIT = "VISIT"


coupon_rules = Table(
    "coupon_rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False, index=True),
    Column("trigger", String(20), nullable=False),
    Column("template_id", Id, ForeignKey("coupon_templates.id"), nullable=False),
    Column("service_id", Id, ForeignKey("services.id"), nullable=True),  # VISIT: the service counted
    Column("visit_count", Integer, nullable=True),  # VISIT: every N paid units
    Column("active", Boolean, nullable=False, default=True),
    created_at_column(),
)
