"""Cashing out a card (退卡, DESIGN.md §4).

A stored-value card pays out the principal left, in the tender the manager chooses; its gift is
forfeited (the member gives it up: it moves to the store's gift-forfeited account, not to a
drawer); the card is CLOSED and refuses every later top-up, spend, refund onto it and freeze
(CARD_CLOSED). A count card pays out its unused value, pro rata, minus the brand's fee, where the
brand allows it; what it does not pay out is the store's revenue.

The money leaves the drawer of the store that issued the card, so a store-bound manager cashes out
only their own store's cards and no cross-store settlement arises.

While money for the card is still on its way (a mini-program top-up not yet confirmed, an open or
held order that tops it up), cashing out would race it: the areas that know those (payments,
sales, both above cards, DESIGN.md §3) register a check in `BLOCKERS`, which runs under the card's
lock and names the error code that refuses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Awaitable, Callable

from sqlalchemy import Column, ForeignKey, Index, String, Table, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.operations import rules_of
from domain.brands.stores import get_store
from domain.cards.count_cards import CountCardStatus, count_cards
from domain.cards.stored_value import CardStatus, Tender, card_balances, cards, get_card, lock_card, write_entry
from domain.db import Id, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.ledger.postings import AccountKind, Leg, accounts, ensure_accounts, post_transfer, store_account
from domain.validation import check_text

card_cash_outs = Table(
    "card_cash_outs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    # STORED_VALUE or COUNT_CARD, with the card of that kind
    Column("kind", String(20), nullable=False),
    Column("card_id", Id, ForeignKey("stored_value_cards.id"), nullable=True),
    Column("count_card_id", Id, ForeignKey("count_cards.id"), nullable=True),
    Column("tender", String(20), nullable=False),
    Column("paid_out", Id, nullable=False),
    Column("gift_forfeited", Id, nullable=False),
    # Count cards: what was left unused before the fee, and the fee kept.
    Column("value_left", Id, nullable=False),
    Column("fee", Id, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    created_at_column(),
    Index("ix_card_cash_outs_store_id_created_at", "store_id", "created_at"),
)

# (db, the card's row) -> an error code that refuses the cash-out, or None.
Blocker = Callable[[AsyncConnection, object], Awaitable[str | None]]
BLOCKERS: list[Blocker] = []


@dataclass(frozen=True)
class CashOut:
    cash_out_id: int
    paid_out: int
    gift_forfeited: int
    value_left: int
    fee: int


async def cash_out_card(db: AsyncConnection, actor: Actor, *, card_id: int, tender: Tender, reason: str, reference: str) -> CashOut:
    reason = check_text(reason, "reason", "退卡原因", 200)
    card = await get_card(db, actor, card_id)
    await get_store(db, actor, card.issued_store_id, field="cardId")
    # A frozen card (挂失) may still be closed: that is often why the member came.
    await lock_card(db, card.id, allow_frozen=True)
    for blocker in BLOCKERS:
        code = await blocker(db, card)
        if code is not None:
            raise DomainError(code, "cardId")
    principal, gift = await card_balances(db, card)
    store_id = card.issued_store_id
    legs = []
    if principal or gift:
        specs = [store_account(AccountKind.STORE_TENDER, store_id, tender.value), store_account(AccountKind.STORE_GIFT_FORFEITED, store_id)]
        ids = await ensure_accounts(db, actor.brand_id, specs)
        if principal:
            legs += [Leg(card.principal_account_id, principal), Leg(ids[specs[0].code], -principal)]
        if gift:
            legs += [Leg(card.gift_account_id, gift), Leg(ids[specs[1].code], -gift)]
    transfer_id = None
    if legs:
        transfer_id, after = await post_transfer(
            db, brand_id=actor.brand_id, kind="CASH_OUT", reference=reference, legs=legs, store_id=store_id,
            staff_id=actor.staff_id, member_id=card.member_id, memo=tender.value,
        )
        await write_entry(db, brand_id=actor.brand_id, member_id=card.member_id, card=card, transfer_id=transfer_id, kind="CASH_OUT",
                          principal_delta=-principal, gift_delta=-gift, after=after, store_id=store_id, staff_id=actor.staff_id)
    await db.execute(update(cards).where(cards.c.id == card.id).values(status=CardStatus.CLOSED.value))
    cash_out_id = await _record(db, actor, store_id=store_id, member_id=card.member_id, kind="STORED_VALUE", card_id=card.id,
                                tender=tender, paid_out=principal, gift_forfeited=gift, value_left=principal, fee=0, reason=reason,
                                transfer_id=transfer_id)
    await audit.record(db, actor, "card.cash_out", "stored_value_card", card.id, before={"status": card.status, "principal": principal, "gift": gift},
                       after={"status": CardStatus.CLOSED.value, "paid_out": principal, "gift_forfeited": gift, "tender": tender.value,
                              "reason": reason}, store_id=store_id)
    return CashOut(cash_out_id, principal, gift, principal, 0)


def count_card_value_left(card, liability: int, now: dt.datetime) -> int:
    """What of a count card is still unused: a session card's liability is already what its
    sessions left are worth (each use recognised liability ÷ sessions left); a time card's is
    pro rata to the time left of its validity, to the fen, rounded down."""
    if card.sessions_total is not None:
        return liability
    total = (card.expires_at - card.starts_at).total_seconds()
    left = max(0.0, (card.expires_at - now).total_seconds())
    return liability * int(left) // int(total) if total > 0 else 0


async def cash_out_count_card(
    db: AsyncConnection, actor: Actor, *, count_card_id: int, tender: Tender, reason: str, reference: str, now: dt.datetime | None = None
) -> CashOut:
    now = now or utcnow()
    reason = check_text(reason, "reason", "退卡原因", 200)
    rules = await rules_of(db, actor.brand_id)
    found = (await db.execute(select(count_cards).where(count_cards.c.id == count_card_id))).first()
    if found is None or found.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", "countCardId", what="次卡")
    if not rules.count_card_cash_out:
        raise DomainError("COUNT_CARD_CASH_OUT_NOT_ALLOWED", "countCardId")
    await get_store(db, actor, found.issued_store_id, field="countCardId")
    # The conditional bump takes the card's row: a use or a refund of it waits, then sees it closed.
    card = (
        await db.execute(
            update(count_cards).where(count_cards.c.id == count_card_id, count_cards.c.status == CountCardStatus.ACTIVE.value)
            .values(status=CountCardStatus.CASHED_OUT.value, version=count_cards.c.version + 1).returning(*count_cards.c)
        )
    ).first()
    if card is None:
        raise DomainError("COUNT_CARD_INACTIVE", "countCardId")
    if card.expires_at <= now:
        raise DomainError("COUNT_CARD_EXPIRED", "countCardId")
    liability = await db.scalar(select(accounts.c.balance).where(accounts.c.id == card.liability_account_id))
    value_left = count_card_value_left(card, liability, now)
    fee = value_left * rules.count_card_cash_out_fee_percent // 100
    paid_out = value_left - fee
    store_id = card.issued_store_id
    transfer_id = None
    if liability:
        specs = [store_account(AccountKind.STORE_TENDER, store_id, tender.value), store_account(AccountKind.STORE_REVENUE, store_id)]
        ids = await ensure_accounts(db, actor.brand_id, specs)
        legs = [Leg(card.liability_account_id, liability), Leg(ids[specs[0].code], -paid_out), Leg(ids[specs[1].code], -(liability - paid_out))]
        transfer_id, _ = await post_transfer(
            db, brand_id=actor.brand_id, kind="COUNT_CARD_CASH_OUT", reference=reference, legs=[leg for leg in legs if leg.amount],
            store_id=store_id, staff_id=actor.staff_id, member_id=card.member_id, memo=tender.value,
        )
    cash_out_id = await _record(db, actor, store_id=store_id, member_id=card.member_id, kind="COUNT_CARD", count_card_id=card.id,
                                tender=tender, paid_out=paid_out, gift_forfeited=0, value_left=value_left, fee=fee, reason=reason,
                                transfer_id=transfer_id)
    await audit.record(db, actor, "count_card.cash_out", "count_card", card.id, before={"status": CountCardStatus.ACTIVE.value, "liability": liability},
                       after={"status": CountCardStatus.CASHED_OUT.value, "value_left": value_left, "fee": fee, "paid_out": paid_out,
                              "tender": tender.value, "reason": reason}, store_id=store_id)
    return CashOut(cash_out_id, paid_out, 0, value_left, fee)


async def _record(db: AsyncConnection, actor: Actor, **values) -> int:
    values["tender"] = values["tender"].value
    return (
        await db.execute(
            insert(card_cash_outs).values(brand_id=actor.brand_id, staff_id=actor.staff_id, created_at=utcnow(), **values)
            .returning(card_cash_outs.c.id)
        )
    ).scalar_one()


async def summary(db: AsyncConnection, store_id: int, start: dt.datetime, end: dt.datetime) -> dict:
    """The daily close's cash-outs at a store: how many, principal paid out, gift forfeited, and
    count cards' payouts and fees."""
    today = and_(card_cash_outs.c.store_id == store_id, card_cash_outs.c.created_at >= start, card_cash_outs.c.created_at < end)
    rows = {kind: (n, paid, gift, fee) for kind, n, paid, gift, fee in await db.execute(
        select(card_cash_outs.c.kind, func.count(), func.sum(card_cash_outs.c.paid_out), func.sum(card_cash_outs.c.gift_forfeited),
               func.sum(card_cash_outs.c.fee)).where(today).group_by(card_cash_outs.c.kind)
    )}
    sv = rows.get("STORED_VALUE", (0, 0, 0, 0))
    cc = rows.get("COUNT_CARD", (0, 0, 0, 0))
    return {"count": sv[0] + cc[0], "principal": sv[1], "gift_forfeited": sv[2], "count_card_paid_out": cc[1], "count_card_fees": cc[3]}
