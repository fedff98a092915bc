"""The prepaid liability the chain holds (预收款/单用途预付卡): card principal, gift balances and count
cards' deferred revenue, per store and for the brand, as of the end of a business day; and what the
brand's escrow ratio says must be kept in escrow (DESIGN.md §7 Operations).

Balances as of a day are today's balances less every posting after that day's end, so the work
grows with how far back the day is, not with the whole ledger. A stored-value card belongs to the
store that issued it, a count card to the store that sold it. Escrow is the ratio of what customers
paid in and have not yet used (principal + count-card deferred); gift was never paid for."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.stores import brands
from domain.cards.count_cards import count_cards
from domain.cards.stored_value import cards
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.ledger.postings import AccountKind, accounts, postings, transfers
from domain.timezones import day_bounds

report_settings = Table(
    "report_settings",
    metadata,
    Column("brand_id", Id, ForeignKey("brands.id"), primary_key=True),
    # The share of prepaid funds that must stay in escrow (单用途预付卡存管), in basis points.
    Column("escrow_ratio_bp", Integer, nullable=False, default=0),
    created_at_column(),
    CheckConstraint("escrow_ratio_bp BETWEEN 0 AND 10000", name="escrow"),
)

KINDS = {AccountKind.CARD_PRINCIPAL.value: "principal", AccountKind.CARD_GIFT.value: "gift", AccountKind.COUNT_CARD_LIABILITY.value: "count_card_deferred"}


@dataclass
class Held:
    principal: int = 0
    gift: int = 0
    count_card_deferred: int = 0


@dataclass
class Liability:
    date: dt.date
    principal: int
    gift: int
    count_card_deferred: int
    escrow_ratio_bp: int
    escrow_required: int
    by_store: dict[int, Held] = field(default_factory=dict)


async def escrow_ratio(db: AsyncConnection, brand_id: int) -> int:
    return await db.scalar(select(report_settings.c.escrow_ratio_bp).where(report_settings.c.brand_id == brand_id)) or 0


async def set_escrow_ratio(db: AsyncConnection, actor: Actor, ratio_bp: int) -> int:
    if isinstance(ratio_bp, bool) or not isinstance(ratio_bp, int) or not 0 <= ratio_bp <= 10000:
        raise DomainError("INVALID_VALUE", "escrowRatioPercent", what="存管比例（0-100%）")
    inserted = await db.execute(insert_ignoring_conflicts(db, report_settings).values(brand_id=actor.brand_id, escrow_ratio_bp=ratio_bp, created_at=utcnow()))
    if inserted.rowcount == 0:
        await db.execute(update(report_settings).where(report_settings.c.brand_id == actor.brand_id).values(escrow_ratio_bp=ratio_bp))
    await audit.record(db, actor, "report.escrow_ratio", "brand", actor.brand_id, after={"escrow_ratio_bp": ratio_bp})
    return ratio_bp


async def prepaid_liability(db: AsyncConnection, actor: Actor, *, day: dt.date | None = None, now: dt.datetime | None = None) -> Liability:
    tz = await db.scalar(select(brands.c.timezone).where(brands.c.id == actor.brand_id))
    now = now or utcnow()
    day = day or now.astimezone(ZoneInfo(tz)).date()
    _, cutoff = day_bounds(day, tz)
    a = accounts.c
    later = (select(postings.c.account_id, func.sum(postings.c.amount).label("amount"))
             .select_from(transfers.join(postings, postings.c.transfer_id == transfers.c.id))
             .where(transfers.c.brand_id == actor.brand_id, transfers.c.created_at >= cutoff).group_by(postings.c.account_id).subquery())
    stored, counted = cards.alias("svc"), count_cards.alias("cc")
    store_id = func.coalesce(stored.c.issued_store_id, counted.c.issued_store_id)
    query = (
        select(a.kind, store_id, func.sum(a.balance - a.normal * func.coalesce(later.c.amount, 0)))
        .select_from(accounts.outerjoin(later, later.c.account_id == a.id)
                     .outerjoin(stored, (stored.c.id == a.card_id) & (a.kind != AccountKind.COUNT_CARD_LIABILITY.value))
                     .outerjoin(counted, (counted.c.id == a.card_id) & (a.kind == AccountKind.COUNT_CARD_LIABILITY.value)))
        .where(a.brand_id == actor.brand_id, a.kind.in_(list(KINDS))).group_by(a.kind, store_id)
    )
    by_store: dict[int, Held] = defaultdict(Held)
    for kind, store, amount in await db.execute(query):
        held = by_store[store]
        setattr(held, KINDS[kind], getattr(held, KINDS[kind]) + int(amount or 0))
    total = Held(sum(h.principal for h in by_store.values()), sum(h.gift for h in by_store.values()), sum(h.count_card_deferred for h in by_store.values()))
    ratio = await escrow_ratio(db, actor.brand_id)
    escrow = ((total.principal + total.count_card_deferred) * ratio + 9999) // 10000
    return Liability(day, total.principal, total.gift, total.count_card_deferred, ratio, escrow, dict(sorted(by_store.items(), key=lambda kv: kv[0] or 0)))
