"""Idempotency keys for money mutations (DESIGN.md §4, Stripe's model).

The key row is inserted in the same transaction as the money it guards. A concurrent request with
the same key waits on the unique index until the first commits, then replays its stored result;
if the first rolled back, the second goes ahead as if it were first.

Keys belong to whoever sent them (DESIGN.md §8): a staff account or a customer identity. Two desks
that pick the same key do not collide, and a key someone else used reveals nothing. A replay is
checked for permission like the first request (`guard`), so a role or store change since then counts.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import (
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, PerDialect, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.prepared import Prepared
from domain.writes import Write, update_write

MAX_KEY_LENGTH = 100
MAX_SENDER_LENGTH = 40

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    # "staff:<id>" or "customer:<identity id>" (see `staff_sender`, `customer_sender`).
    Column("sender", String(MAX_SENDER_LENGTH), nullable=False),
    Column("key", String(MAX_KEY_LENGTH), nullable=False),
    Column("operation", String(40), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "sender", "key"),
)


def staff_sender(staff_id: int) -> str:
    return f"staff:{staff_id}"


def customer_sender(identity_id: int) -> str:
    return f"customer:{identity_id}"


def scoped_reference(prefix: str, sender: str, key: str) -> str:
    """The ledger reference of the money a key guards: unique per brand, so it carries the sender
    too, or two desks' equal keys would collide on the transfer instead of on the key."""
    return f"{prefix}:{sender}:{(key or '').strip()}"


def request_fingerprint(operation: str, request: dict) -> str:
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_CLAIMED = ("brand_id", "sender", "key", "operation", "request_hash", "created_at")
_claim = PerDialect(lambda db: Prepared(
    insert_ignoring_conflicts(db, idempotency_keys).values({c: bindparam(f"claim_{c}") for c in _CLAIMED}).returning(idempotency_keys.c.id)
))
_remember = update(idempotency_keys).where(idempotency_keys.c.id == bindparam("key_id")).values(response=bindparam("b_response"))


class Claim:
    """The outcome of claiming a key: either a replay of the first result, or the right to act."""

    def __init__(self, key_id: int | None, replay: dict | None) -> None:
        self.key_id = key_id
        self.replay = replay

    async def remember(self, db: AsyncConnection, response: dict) -> None:
        assert self.key_id is not None
        await db.execute(_remember, {"key_id": self.key_id, "b_response": json.dumps(response)})

    def remembering(self, response: dict) -> Write:
        """What `remember` writes, for a `run` that sends it with its own last writes (domain.writes)."""
        assert self.key_id is not None
        return update_write(idempotency_keys, self.key_id, {"response": json.dumps(response)})


async def once(
    db: AsyncConnection, *, brand_id: int, sender: str, key: str | None, operation: str, request: dict, run, guard=None,
    run_remembers: bool = False,
) -> tuple[dict, bool]:
    """`run()` (returning a JSON-able dict) at most once per sender and key: the first call's
    result, and whether this call only replayed it. `guard()` runs before a replay and raises a
    DomainError when the caller may no longer see what the first call did; `run` checks for itself.
    With `run_remembers`, `run(remembering)` writes `remembering(response)` itself, with its own
    last writes (a checkout saves the round trip)."""
    taken = await claim(db, brand_id=brand_id, sender=sender, key=key, operation=operation, request=request)
    if taken.replay is not None:
        if guard is not None:
            await guard()
        return taken.replay, True
    if run_remembers:
        return await run(taken.remembering), False
    response = await run()
    await taken.remember(db, response)
    return response, False


async def claim(db: AsyncConnection, *, brand_id: int, sender: str, key: str | None, operation: str, request: dict) -> Claim:
    key = (key or "").strip()
    if not key:
        raise DomainError("IDEMPOTENCY_KEY_REQUIRED", "idempotencyKey")
    if len(key) > MAX_KEY_LENGTH:
        raise DomainError("TOO_LONG", "idempotencyKey", what="幂等键", max=MAX_KEY_LENGTH)
    fingerprint = request_fingerprint(operation, request)
    inserted = (
        await _claim(db).execute(db, {"claim_brand_id": brand_id, "claim_sender": sender, "claim_key": key, "claim_operation": operation,
                                      "claim_request_hash": fingerprint, "claim_created_at": utcnow()})
    ).scalar_one_or_none()
    if inserted is not None:
        return Claim(inserted, None)
    row = (
        await db.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
                idempotency_keys.c.brand_id == brand_id, idempotency_keys.c.sender == sender, idempotency_keys.c.key == key
            )
        )
    ).one()
    if row.request_hash != fingerprint:
        raise DomainError("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    if row.response is None:
        raise DomainError("IDEMPOTENCY_IN_PROGRESS", "idempotencyKey")
    return Claim(None, json.loads(row.response))
