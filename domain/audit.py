"""Who did what to money or personal data, when, with the state before and after (DESIGN.md §8)."""

from __future__ import annotations

import json

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor
from domain.db import Id, created_at_column, metadata, utcnow
from domain.writes import Write, insert_write

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("store_id", Id, nullable=True),
    Column("action", String(40), nullable=False),
    Column("entity", String(30), nullable=False),
    Column("entity_id", Id, nullable=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    created_at_column(),
    Index("ix_audit_log_brand_id_id", "brand_id", "id"),
)


_insert = insert(audit_log)


async def record(
    db: AsyncConnection,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int | None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    store_id: int | None = None,
) -> None:
    """Written in the caller's transaction, so an action and its audit row commit or vanish together.
    Personal data goes in masked: the audit log must not become the copy of phone numbers a dump leaks."""
    await db.execute(_insert, _values(actor, action, entity, entity_id, before, after, store_id))


def entry(actor: Actor, action: str, entity: str, entity_id: int | None, *, before: dict | None = None, after: dict | None = None,
          store_id: int | None = None) -> Write:
    """The row `record` writes, for a caller that sends it with others (domain.writes)."""
    return insert_write(audit_log, _values(actor, action, entity, entity_id, before, after, store_id))


def _values(actor: Actor, action: str, entity: str, entity_id: int | None, before: dict | None, after: dict | None, store_id: int | None) -> dict:
    return {
        "brand_id": actor.brand_id,
        "staff_id": actor.staff_id,
        "store_id": store_id if store_id is not None else actor.store_id,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": json.dumps(before, ensure_ascii=False, default=str) if before is not None else None,
        "after": json.dumps(after, ensure_ascii=False, default=str) if after is not None else None,
        "created_at": utcnow(),
    }


async def page(db: AsyncConnection, actor: Actor, *, limit: int, before_id: int | None, store_id: int | None) -> tuple[list, bool]:
    from sqlalchemy import select

    stmt = select(audit_log).where(audit_log.c.brand_id == actor.brand_id)
    if store_id is not None:
        stmt = stmt.where(audit_log.c.store_id == store_id)
    if before_id is not None:
        stmt = stmt.where(audit_log.c.id < before_id)
    rows = list(await db.execute(stmt.order_by(audit_log.c.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit
