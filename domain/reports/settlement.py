"""The cross-store settlement statement (跨店结算单): what each store owes another for cards sold there and used here, netted per pair."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor, Role
from domain.brands.stores import brands
from domain.errors import DomainError
from domain.sales.settlement import settlement_items
from domain.timezones import check_day, day_bounds


@dataclass(frozen=True)
class SettlementLine:
    payer_store_id: int
    payee_store_id: int
    consumed: int
    amount: int
    items: int


async def settlement_statement(db: AsyncConnection, actor: Actor, *, start_day: dt.date, end_day: dt.date) -> list[SettlementLine]:
    """Items from `start_day` to `end_day` inclusive, netted per store pair: one line per pair,
    from the store that owes to the store that is owed."""
    check_day(start_day, "from")
    check_day(end_day, "to")
    if end_day < start_day or (end_day - start_day).days > 366:
        raise DomainError("DATE_RANGE_INVALID", "to")
    tz = await db.scalar(select(brands.c.timezone).where(brands.c.id == actor.brand_id))
    start, _ = day_bounds(start_day, tz)
    _, end = day_bounds(end_day, tz)
    directed: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for payer, payee, consumed, amount, count in await db.execute(
        select(settlement_items.c.payer_store_id, settlement_items.c.payee_store_id, func.sum(settlement_items.c.consumed),
               func.sum(settlement_items.c.amount), func.count())
        .where(settlement_items.c.brand_id == actor.brand_id, settlement_items.c.created_at >= start, settlement_items.c.created_at < end)
        .group_by(settlement_items.c.payer_store_id, settlement_items.c.payee_store_id)
    ):
        directed[(payer, payee)] = [consumed, amount, count]
    lines = []
    for a, b in sorted({tuple(sorted(k)) for k in directed}):
        ab, ba = directed.get((a, b), [0, 0, 0]), directed.get((b, a), [0, 0, 0])
        amount, consumed, items = ab[1] - ba[1], ab[0] - ba[0], ab[2] + ba[2]
        payer, payee = (a, b) if (amount, consumed) >= (0, 0) else (b, a)
        lines.append(SettlementLine(payer, payee, abs(consumed), abs(amount), items))
    if actor.role == Role.STORE_MANAGER:
        lines = [l for l in lines if actor.store_id in (l.payer_store_id, l.payee_store_id)]
    return lines
