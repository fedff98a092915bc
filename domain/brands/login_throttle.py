"""Login throttling keyed by who tries from where (DESIGN.md §8).

Failures are counted per (username as typed, client address), whether or not the username
exists, so a throttled answer tells nothing about which accounts exist:

- a pair that keeps failing waits, doubling each time (15 s after the 5th failure, then 30 s,
  1 min, ... up to 15 min); a success from that pair forgets its failures. A stranger at another
  address only ever throttles their own pair, never the owner at the desk;
- an address that fails across many usernames (spraying) is throttled as a whole for a while;
- an account that fails from many addresses (a distributed guess) is only slowed down, by a
  short wait before its password is checked: never locked, so it cannot be used to lock anyone out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, Index, Integer, String, Table, UniqueConstraint, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, UtcDateTime, metadata, utcnow
from domain.db import insert_ignoring_conflicts

MAX_USERNAME = 64
MAX_ADDRESS = 64

FREE_FAILURES = 5
FIRST_WAIT = dt.timedelta(seconds=15)
MAX_WAIT = dt.timedelta(minutes=15)
# Failures older than this no longer count towards a pair's wait.
PAIR_MEMORY = dt.timedelta(hours=1)
# An address with this many failures over every username within the window waits out the window.
ADDRESS_LIMIT = 30
ADDRESS_WINDOW = dt.timedelta(minutes=15)
# An account with this many failures from all addresses within the window is slowed, not locked.
ACCOUNT_SLOW_AFTER = 20
ACCOUNT_WINDOW = dt.timedelta(minutes=15)
ACCOUNT_DELAY_SECONDS = 1.0

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Id, primary_key=True),
    Column("username", String(MAX_USERNAME), nullable=False),
    Column("address", String(MAX_ADDRESS), nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_failed_at", UtcDateTime(), nullable=False),
    Column("blocked_until", UtcDateTime(), nullable=True),
    UniqueConstraint("username", "address"),
    Index("ix_login_failures_address_last_failed_at", "address", "last_failed_at"),
)


@dataclass(frozen=True)
class Verdict:
    """What to do with one attempt before its password is checked."""

    wait_seconds: int  # > 0: refuse now, without checking the password
    slow_seconds: float  # > 0: check the password, but only after this long


def _key(username: str | None, address: str | None) -> tuple[str, str]:
    # Escaped to ASCII: whatever was typed (NUL, lone surrogates) is storable on both databases.
    name = (username or "").strip().encode("unicode_escape").decode("ascii")
    return name[:MAX_USERNAME], (address or "unknown")[:MAX_ADDRESS]


def pair_wait(failures: int) -> dt.timedelta:
    """How long a pair waits after its `failures`-th failure in a row."""
    if failures < FREE_FAILURES:
        return dt.timedelta(0)
    return min(MAX_WAIT, FIRST_WAIT * (2 ** min(failures - FREE_FAILURES, 16)))


async def check(db: AsyncConnection, *, username: str | None, address: str | None, now: dt.datetime | None = None) -> Verdict:
    now = now or utcnow()
    name, addr = _key(username, address)
    blocked_until = await db.scalar(
        select(login_failures.c.blocked_until).where(login_failures.c.username == name, login_failures.c.address == addr)
    )
    waits = [blocked_until - now] if blocked_until is not None and blocked_until > now else []
    from_address = (
        await db.execute(
            select(func.coalesce(func.sum(login_failures.c.failures), 0), func.max(login_failures.c.last_failed_at)).where(
                login_failures.c.address == addr, login_failures.c.last_failed_at > now - ADDRESS_WINDOW
            )
        )
    ).one()
    if from_address[0] >= ADDRESS_LIMIT:
        waits.append(from_address[1] + ADDRESS_WINDOW - now)
    if waits:
        return Verdict(wait_seconds=max(1, int(max(waits).total_seconds() + 0.999)), slow_seconds=0)
    on_account = await db.scalar(
        select(func.coalesce(func.sum(login_failures.c.failures), 0)).where(
            login_failures.c.username == name, login_failures.c.last_failed_at > now - ACCOUNT_WINDOW
        )
    )
    return Verdict(wait_seconds=0, slow_seconds=ACCOUNT_DELAY_SECONDS if on_account >= ACCOUNT_SLOW_AFTER else 0)


async def record_failure(db: AsyncConnection, *, username: str | None, address: str | None, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    name, addr = _key(username, address)
    await db.execute(
        insert_ignoring_conflicts(db, login_failures).values(username=name, address=addr, failures=0, last_failed_at=now)
    )
    # One atomic increment, so that parallel failures all count; a pair quiet for a while starts over.
    pair = (login_failures.c.username == name) & (login_failures.c.address == addr)
    failures = (
        await db.execute(
            update(login_failures)
            .where(pair)
            .values(
                failures=case((login_failures.c.last_failed_at < now - PAIR_MEMORY, 1), else_=login_failures.c.failures + 1),
                last_failed_at=now,
            )
            .returning(login_failures.c.failures)
        )
    ).scalar_one()
    wait = pair_wait(failures)
    await db.execute(update(login_failures).where(pair).values(blocked_until=now + wait if wait else None))


async def record_success(db: AsyncConnection, *, username: str | None, address: str | None) -> None:
    name, addr = _key(username, address)
    await db.execute(delete(login_failures).where(login_failures.c.username == name, login_failures.c.address == addr))
