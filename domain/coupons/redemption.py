"""Redeeming coupons (核销) inside checkout, and giving them back on a full refund."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Table

from domain.db import Id, metadata

# What each coupon took off each order line: a refund of a line gives back exactly its share.
coupon_line_shares = Table(
    "coupon_line_shares",
    metadata,
    Column("id", Id, primary_key=True),
    Column("coupon_id", Id, ForeignKey("coupons.id"), nullable=False, index=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("order_line_id", Id, ForeignKey("order_lines.id"), nullable=False),
    Column("amount", Id, nullable=False),
    Column("refunded", Id, nullable=False, default=0),
)
