"""Cross-store risk control (跨店风险管控, DESIGN.md §4): a stored-value card product may name the
stores that accept it, and cap what one card spends per day at stores other than the one that
issued it (the serving store's business day). The store that issued a card always accepts it.

The cap is counted under the card's lock (`spending.debit_card` takes it before this runs), from
the card's own statement lines, so two checkouts of one card at once are counted one after the
other and cannot both slip under the cap. Spending counts gross: a refund does not make room."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, Table, UniqueConstraint, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor
from domain.brands.stores import get_store
from domain.cards.stored_value import card_entries
from domain.db import Id, metadata
from domain.errors import DomainError
from domain.timezones import day_bounds
from domain.validation import check_amount

MAX_STORES = 200

card_product_risk = Table(
    "card_product_risk",
    metadata,
    Column("product_id", Id, ForeignKey("stored_value_card_products.id"), primary_key=True),
    # None: no cap
    Column("cross_store_daily_limit", Id, nullable=True),
)

card_product_accepted_stores = Table(
    "card_product_accepted_stores",
    metadata,
    Column("id", Id, primary_key=True),
    Column("product_id", Id, ForeignKey("stored_value_card_products.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    UniqueConstraint("product_id", "store_id"),
)


@dataclass(frozen=True)
class RiskRules:
    accepted_store_ids: tuple[int, ...] = ()
    cross_store_daily_limit: int | None = None


async def set_rules(db: AsyncConnection, actor: Actor, *, product_id: int, accepted_store_ids: list[int] | None,
                    cross_store_daily_limit: int | None) -> None:
    """The product's rules, replacing what it had; no stores named means every store accepts it."""
    stores = list(dict.fromkeys(accepted_store_ids or []))
    if len(stores) > MAX_STORES:
        raise DomainError("TOO_MANY", "acceptedStoreIds", what="门店", max=MAX_STORES)
    for i, store_id in enumerate(stores):
        await get_store(db, actor, store_id, field=f"acceptedStoreIds.{i}", act=False)
    if cross_store_daily_limit is not None:
        check_amount(cross_store_daily_limit, "crossStoreDailyLimit")
    await db.execute(delete(card_product_accepted_stores).where(card_product_accepted_stores.c.product_id == product_id))
    await db.execute(delete(card_product_risk).where(card_product_risk.c.product_id == product_id))
    if stores:
        await db.execute(insert(card_product_accepted_stores), [{"product_id": product_id, "store_id": s} for s in stores])
    if cross_store_daily_limit is not None:
        await db.execute(insert(card_product_risk).values(product_id=product_id, cross_store_daily_limit=cross_store_daily_limit))


async def rules_by_product_ids(db: AsyncConnection, product_ids: list[int]) -> dict[int, RiskRules]:
    stores: dict[int, list[int]] = {p: [] for p in product_ids}
    for product_id, store_id in await db.execute(
        select(card_product_accepted_stores.c.product_id, card_product_accepted_stores.c.store_id)
        .where(card_product_accepted_stores.c.product_id.in_(product_ids)).order_by(card_product_accepted_stores.c.store_id)
    ):
        stores[product_id].append(store_id)
    limits = dict((await db.execute(
        select(card_product_risk.c.product_id, card_product_risk.c.cross_store_daily_limit).where(card_product_risk.c.product_id.in_(product_ids))
    )).all())
    return {p: RiskRules(tuple(stores[p]), limits.get(p)) for p in product_ids}


async def check_spend(db: AsyncConnection, card, *, store_id: int, amount: int, local_date: str, timezone: str, field: str) -> None:
    """Refuse a spend of `amount` from `card` (locked by the caller) at `store_id` that the card's
    product does not allow: CARD_STORE_NOT_ACCEPTED, CROSS_STORE_LIMIT_EXCEEDED."""
    if store_id == card.issued_store_id:
        return
    rules = (await rules_by_product_ids(db, [card.product_id]))[card.product_id]
    if rules.accepted_store_ids and store_id not in rules.accepted_store_ids:
        raise DomainError("CARD_STORE_NOT_ACCEPTED", field)
    if rules.cross_store_daily_limit is None:
        return
    start, end = day_bounds(dt.date.fromisoformat(local_date), timezone)
    spent = await db.scalar(
        select(func.coalesce(-func.sum(card_entries.c.principal_delta + card_entries.c.gift_delta), 0)).where(
            card_entries.c.card_id == card.id, card_entries.c.kind.in_(["CHECKOUT", "SPEND"]),
            card_entries.c.store_id != card.issued_store_id, card_entries.c.created_at >= start, card_entries.c.created_at < end,
        )
    )
    if spent + amount > rules.cross_store_daily_limit:
        left = max(0, rules.cross_store_daily_limit - spent)
        raise DomainError("CROSS_STORE_LIMIT_EXCEEDED", field, available=f"¥{left / 100:,.2f}")
