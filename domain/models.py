"""Imports every module that declares tables, so that `metadata` is complete for Alembic."""

from domain import (  # noqa: F401
    audit,
    cards,
    catalogue,
    channels,
    checkout,
    count_cards,
    customers,
    idempotency,
    ledger,
    login_throttle,
    members,
    orders,
    payments,
    refunds,
    settlement,
    tenancy,
)
from domain.db import metadata  # noqa: F401
