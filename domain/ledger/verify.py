"""The ledger's own invariants, checked by `meiye ledger verify`: balanced transfers, balances equal to their postings, floors and ceilings, running balances."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    and_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ledger.postings import accounts, postings, transfers


@dataclass
class Check:
    name: str
    checked: int
    broken: list[str]


async def verify(db: AsyncConnection) -> list[Check]:
    """Every ledger invariant of DESIGN.md §4, over the whole database."""
    checks: list[Check] = []

    n = await db.scalar(select(text("count(*)")).select_from(transfers))
    rows = await db.execute(
        text(
            "SELECT t.id, COALESCE(SUM(p.amount), 0), COUNT(p.id) FROM transfers t "
            "LEFT JOIN postings p ON p.transfer_id = t.id GROUP BY t.id "
            "HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.id) < 2"
        )
    )
    checks.append(
        Check(
            "every transfer has two or more postings summing to zero",
            n,
            [f"transfer {tid}: sum {s}, {c} postings" for tid, s, c in rows],
        )
    )

    n = await db.scalar(select(text("count(*)")).select_from(accounts))
    rows = await db.execute(
        text(
            "SELECT a.id, a.code, a.balance, a.normal * COALESCE(SUM(p.amount), 0) FROM accounts a "
            "LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id, a.code, a.balance, a.normal "
            "HAVING a.balance <> a.normal * COALESCE(SUM(p.amount), 0)"
        )
    )
    checks.append(
        Check(
            "every account's balance equals the sum of its postings",
            n,
            [f"account {aid} {code}: balance {bal}, postings {s}" for aid, code, bal, s in rows],
        )
    )

    rows = await db.execute(select(accounts.c.id, accounts.c.code, accounts.c.balance).where(and_(accounts.c.floor_zero == True, accounts.c.balance < 0)))  # noqa: E712
    checks.append(
        Check(
            "no card principal or gift balance is below zero",
            await db.scalar(select(text("count(*)")).select_from(accounts).where(accounts.c.floor_zero == True)),  # noqa: E712
            [f"account {aid} {code}: {bal}" for aid, code, bal in rows],
        )
    )

    rows = await db.execute(select(accounts.c.id, accounts.c.code, accounts.c.balance, accounts.c.ceiling).where(accounts.c.ceiling.is_not(None), accounts.c.balance > accounts.c.ceiling))
    checks.append(
        Check(
            "no on-account debt exceeds its credit limit",
            await db.scalar(select(text("count(*)")).select_from(accounts).where(accounts.c.ceiling.is_not(None))),
            [f"account {aid} {code}: {bal} over limit {ceiling}" for aid, code, bal, ceiling in rows],
        )
    )

    n = await db.scalar(select(text("count(*)")).select_from(postings))
    rows = await db.execute(
        text(
            "SELECT id, account_id, balance_after, running FROM ("
            " SELECT p.id, p.account_id, p.balance_after,"
            "  a.normal * SUM(p.amount) OVER (PARTITION BY p.account_id ORDER BY p.id) AS running"
            " FROM postings p JOIN accounts a ON a.id = p.account_id) x "
            "WHERE balance_after <> running"
        )
    )
    checks.append(
        Check(
            "every posting's balance-after equals the running sum of its account",
            n,
            [f"posting {pid} on account {aid}: after {after}, running {run}" for pid, aid, after, run in rows],
        )
    )

    rows = await db.execute(
        text(
            "SELECT p.id, t.brand_id, a.brand_id FROM postings p JOIN transfers t ON t.id = p.transfer_id "
            "JOIN accounts a ON a.id = p.account_id WHERE t.brand_id <> a.brand_id"
        )
    )
    checks.append(
        Check(
            "no transfer posts to another brand's accounts",
            n,
            [f"posting {pid}: transfer brand {tb}, account brand {ab}" for pid, tb, ab in rows],
        )
    )
    return checks
