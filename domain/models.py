"""Imports every module that declares tables, so that `metadata` is complete for Alembic."""

from domain import audit, idempotency  # noqa: F401
from domain.db import metadata  # noqa: F401
