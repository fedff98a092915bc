"""Imports every module that declares tables, so that `metadata` is complete for Alembic."""

from domain import audit, idempotency, outbox  # noqa: F401
from domain.brands import catalogue, staff, stores  # noqa: F401
from domain.cards import count_card_products, count_cards, stored_value  # noqa: F401
from domain.db import metadata  # noqa: F401
from domain.ledger import postings  # noqa: F401
from domain.members import customers, members, points  # noqa: F401
from domain.notifications import consent, reminders, settings, templates  # noqa: F401
from domain.payments import channels, intents  # noqa: F401
from domain.reports import liability, performance  # noqa: F401
from domain.sales import checkout, orders, pricing, refunds, settlement  # noqa: F401
