"""Imports every module that declares tables, so that `metadata` is complete for Alembic."""
# ruff: noqa: F401

from domain import audit, idempotency, outbox
from domain.brands import catalogue, login_throttle, operations, staff, stores
from domain.cards import cash_out, count_card_products, count_cards, cross_store, stored_value
from domain.db import metadata
from domain.ledger import postings
from domain.members import customers, members, membership, points, profiles
from domain.payments import card_holds as payment_card_holds  # registers its cash-out check
from domain.payments import channels, intents, records
from domain.payments import refunds as platform_refunds
from domain.sales import card_holds as order_card_holds  # registers its cash-out check
from domain.sales import checkout, orders, pricing, settlement, stock
from domain.sales import refunds as sales_refunds
