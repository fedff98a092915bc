"""Count cards (次卡): N sessions of some services, or unlimited within validity (年卡/月卡), with
store scope and daily/weekly limits. What a card was sold for is a liability of the brand; each
use recognises `liability left ÷ sessions left` as revenue of the serving store, so the last
session takes the remainder and the liability ends at exactly zero."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    case,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import outbox
from domain.actor import Actor
from domain.cards.count_card_products import (
    count_card_product_services,
    count_card_product_stores,
)
from domain.db import Id, UtcDateTime, created_at_column, metadata
from domain.errors import DomainError
from domain.prepared import with_list
from domain.ledger.postings import (
    AccountKind,
    AccountSpec,
    Leg,
    accounts,
    ensure_accounts,
)


class CountCardStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    # Its unused value paid out (退卡) under the brand's rule.
    CASHED_OUT = "CASHED_OUT"


count_cards = Table(
    "count_cards",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False, index=True),
    Column("product_id", Id, ForeignKey("count_card_products.id"), nullable=False),
    Column("issued_store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("order_line_id", Id, nullable=True),
    Column("sessions_total", Integer, nullable=True),
    Column("sessions_left", Integer, nullable=True),
    Column("price", Id, nullable=False),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("status", String(10), nullable=False, default=CountCardStatus.ACTIVE.value),
    Column("liability_account_id", Id, ForeignKey("accounts.id"), nullable=True),
    Column("version", Integer, nullable=False, default=0),
    created_at_column(),
    CheckConstraint("sessions_left IS NULL OR sessions_left >= 0", name="sessions"),
)


count_card_uses = Table(
    "count_card_uses",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("count_card_id", Id, ForeignKey("count_cards.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("order_id", Id, nullable=True),
    Column("order_line_id", Id, nullable=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("value", Id, nullable=False),
    # The business day and ISO week in the serving store's time zone, for the use limits.
    Column("local_date", String(10), nullable=False),
    Column("iso_week", String(8), nullable=False),
    Column("returned", Boolean, nullable=False, default=False),
    created_at_column(),
    Index("ix_count_card_uses_count_card_id_local_date", "count_card_id", "local_date"),
)


def liability_spec(card_id: int, member_id: int) -> AccountSpec:
    return AccountSpec(f"ccard:{card_id}:liability", AccountKind.COUNT_CARD_LIABILITY, member_id=member_id, card_id=card_id)


async def issue(
    db: AsyncConnection, *, brand_id: int, member_id: int, product, store_id: int, order_line_id: int | None, now: dt.datetime
) -> tuple[int, int]:
    """A new card of `product` for the member; returns (card id, liability account id). The caller
    credits the liability with what was paid for it in the same transfer."""
    card_id = (
        await db.execute(
            insert(count_cards)
            .values(
                brand_id=brand_id, member_id=member_id, product_id=product.id, issued_store_id=store_id, order_line_id=order_line_id,
                sessions_total=product.sessions, sessions_left=product.sessions, price=product.price,
                starts_at=now, expires_at=now + dt.timedelta(days=product.valid_days), status=CountCardStatus.ACTIVE.value,
                version=0, created_at=now,
            )
            .returning(count_cards.c.id)
        )
    ).scalar_one()
    spec = liability_spec(card_id, member_id)
    account_id = (await ensure_accounts(db, brand_id, [spec]))[spec.code]
    await db.execute(update(count_cards).where(count_cards.c.id == card_id).values(liability_account_id=account_id))
    await outbox.emit(db, brand_id=brand_id, kind="count_card.issued", dedupe_key=f"count-card:{card_id}:issued", member_id=member_id, store_id=store_id,
                      payload={"card_id": card_id, "expires_at": (now + dt.timedelta(days=product.valid_days)).isoformat(), "sessions": product.sessions})
    return card_id, account_id


@dataclass(frozen=True)
class CountCardUse:
    use_id: int
    card_id: int
    issued_store_id: int
    value: int
    legs: tuple[Leg, ...]


async def use(
    db: AsyncConnection,
    actor: Actor,
    *,
    card_id: int,
    member_id: int | None,
    service_id: int,
    store_id: int,
    technician_id: int | None,
    order_id: int | None,
    order_line_id: int | None,
    now: dt.datetime,
    local_date: str,
    iso_week: str,
    field: str = "countCardId",
) -> CountCardUse:
    """One session of `service_id` at `store_id`. Takes the card's row first, so concurrent uses of
    one card are counted one at a time against its sessions and limits."""
    taken = (
        await db.execute(
            update(count_cards)
            .where(
                count_cards.c.id == card_id,
                count_cards.c.brand_id == actor.brand_id,
                (count_cards.c.sessions_left.is_(None)) | (count_cards.c.sessions_left > 0),
            )
            .values(
                version=count_cards.c.version + 1,
                sessions_left=case((count_cards.c.sessions_left.is_(None), None), else_=count_cards.c.sessions_left - 1),
            )
            .returning(
                count_cards.c.member_id, count_cards.c.product_id, count_cards.c.issued_store_id, count_cards.c.status,
                count_cards.c.expires_at, count_cards.c.sessions_left, count_cards.c.sessions_total, count_cards.c.liability_account_id,
            )
        )
    ).first()
    if taken is None:
        exists = await db.scalar(select(count_cards.c.id).where(count_cards.c.id == card_id, count_cards.c.brand_id == actor.brand_id))
        raise DomainError("COUNT_CARD_EXHAUSTED" if exists else "NOT_FOUND", field, what="次卡")
    if member_id is not None and taken.member_id != member_id:
        raise DomainError("CARD_MEMBER_MISMATCH", field)
    if taken.status != CountCardStatus.ACTIVE:
        raise DomainError("COUNT_CARD_INACTIVE", field)
    if taken.expires_at <= now:
        raise DomainError("COUNT_CARD_EXPIRED", field)
    sessions_before = None if taken.sessions_total is None else taken.sessions_left + 1
    services = set((await db.execute(select(count_card_product_services.c.service_id).where(count_card_product_services.c.product_id == taken.product_id))).scalars())
    if service_id not in services:
        raise DomainError("COUNT_CARD_NOT_FOR_SERVICE", field)
    scope = set((await db.execute(select(count_card_product_stores.c.store_id).where(count_card_product_stores.c.product_id == taken.product_id))).scalars())
    if scope and store_id not in scope:
        raise DomainError("COUNT_CARD_STORE_NOT_ALLOWED", field)
    from domain.cards.count_card_products import count_card_products

    product = (await db.execute(select(count_card_products.c.daily_limit, count_card_products.c.weekly_limit).where(count_card_products.c.id == taken.product_id))).one()
    live = (count_card_uses.c.count_card_id == card_id, count_card_uses.c.returned == False)  # noqa: E712
    if product.daily_limit is not None:
        today = await db.scalar(select(func.count()).select_from(count_card_uses).where(*live, count_card_uses.c.local_date == local_date))
        if today >= product.daily_limit:
            raise DomainError("DAILY_LIMIT_REACHED", field, limit=product.daily_limit)
    if product.weekly_limit is not None:
        week = await db.scalar(select(func.count()).select_from(count_card_uses).where(*live, count_card_uses.c.iso_week == iso_week))
        if week >= product.weekly_limit:
            raise DomainError("WEEKLY_LIMIT_REACHED", field, limit=product.weekly_limit)

    value = 0
    if sessions_before is not None:
        liability = await db.scalar(select(accounts.c.balance).where(accounts.c.id == taken.liability_account_id))
        value = liability // sessions_before if sessions_before > 1 else liability
    use_id = (
        await db.execute(
            insert(count_card_uses)
            .values(
                brand_id=actor.brand_id, count_card_id=card_id, store_id=store_id, order_id=order_id, order_line_id=order_line_id,
                service_id=service_id, technician_id=technician_id, value=value, local_date=local_date, iso_week=iso_week,
                returned=False, created_at=now,
            )
            .returning(count_card_uses.c.id)
        )
    ).scalar_one()
    legs = (Leg(taken.liability_account_id, value),) if value else ()
    return CountCardUse(use_id, card_id, taken.issued_store_id, value, legs)


async def refuse_unbooked(db: AsyncConnection, card_id: int | None, field: str) -> None:
    """A card of a product that requires a booking (需提前预约) pays no order without one."""
    from domain.cards.count_card_products import count_card_products

    required = await db.scalar(
        select(count_card_products.c.requires_booking).join(count_cards, count_cards.c.product_id == count_card_products.c.id).where(count_cards.c.id == card_id)
    )
    if required:
        raise DomainError("COUNT_CARD_REQUIRES_BOOKING", field)


async def return_use(db: AsyncConnection, *, use_id: int) -> tuple[int, tuple[Leg, ...], int]:
    """Give a session back (refunds): returns (card id, liability legs to credit back, value)."""
    row = (await db.execute(select(count_card_uses).where(count_card_uses.c.id == use_id))).one()
    await db.execute(update(count_card_uses).where(count_card_uses.c.id == use_id).values(returned=True))
    card = (
        await db.execute(
            update(count_cards).where(count_cards.c.id == row.count_card_id)
            .values(version=count_cards.c.version + 1, sessions_left=case((count_cards.c.sessions_left.is_(None), None), else_=count_cards.c.sessions_left + 1))
            .returning(count_cards.c.liability_account_id)
        )
    ).one()
    legs = (Leg(card.liability_account_id, -row.value),) if row.value else ()
    return row.count_card_id, legs, row.value


# Built once: the member read's statement (issue 12).
_cards_by_member_ids = with_list(lambda is_in: select(count_cards).where(is_in(count_cards.c.member_id, "ids")).order_by(count_cards.c.id))


async def cards_by_member_ids(db: AsyncConnection, member_ids: list[int]) -> dict[int, list]:
    found: dict[int, list] = {i: [] for i in member_ids}
    for row in await _cards_by_member_ids.execute(db, {"ids": member_ids}):
        found[row.member_id].append(row)
    return found


async def verify(db: AsyncConnection):
    """Each session card's sessions left agree with its live uses; each liability is never below zero
    (the ledger's floor) and is zero once a session card is used up."""
    from domain.ledger.verify import Check

    rows = list(
        await db.execute(
            select(count_cards.c.id, count_cards.c.sessions_total, count_cards.c.sessions_left, accounts.c.balance, count_cards.c.status,
                   select(func.count()).select_from(count_card_uses).where(count_card_uses.c.count_card_id == count_cards.c.id, count_card_uses.c.returned == False).scalar_subquery())  # noqa: E712
            .join(accounts, accounts.c.id == count_cards.c.liability_account_id)
        )
    )
    broken = []
    for cid, total, left, liability, status, used in rows:
        if total is not None and status == CountCardStatus.ACTIVE and left != total - used:
            broken.append(f"count card {cid}: {left} left of {total} with {used} live uses")
        if total is not None and left == 0 and liability != 0:
            broken.append(f"count card {cid}: used up but liability {liability}")
    return [Check("every count card's sessions and liability agree with its uses", len(rows), broken)]
