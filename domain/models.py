"""Imports every module that declares tables, so that `metadata` is complete for Alembic."""

from domain import (  # noqa: F401
    audit,
    cards,
    catalogue,
    checkout,
    count_cards,
    idempotency,
    ledger,
    members,
    orders,
    refunds,
    settlement,
    tenancy,
)
from domain.db import metadata  # noqa: F401
