"""Imports every module that declares tables, so that `metadata` is complete for Alembic."""
# ruff: noqa: F401

from domain import audit, idempotency, outbox
from domain.bookings import records as booking_records
from domain.bookings import resources, reviews, settings, shifts, waitlist
from domain.brands import catalogue, login_throttle, operations, staff, stores
from domain.cards import cash_out, count_card_products, count_cards, cross_store, stored_value
from domain.coupons import issuing, redemption, rules, templates
from domain.db import metadata
from domain.ledger import postings
from domain.marketing import campaigns, referrals, segments
from domain.members import customers, members, membership, points, profiles
from domain.notifications import consent, reminders
from domain.notifications import templates as notification_templates
from domain.notifications import settings as notification_settings
from domain.payments import card_holds as payment_card_holds  # registers its cash-out check
from domain.payments import channels, intents, records
from domain.payments import refunds as platform_refunds
from domain.reports import liability, performance
from domain.sales import card_holds as order_card_holds  # registers its cash-out check
from domain.sales import checkout, orders, pricing, settlement, stock
from domain.sales import refunds as sales_refunds
