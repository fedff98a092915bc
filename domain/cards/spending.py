"""Spending stored value and giving it back: the split between principal and gift by the brand's
rule, the card debit that checkout composes into its transfer, a standalone spend, refunds of a
spend, and the legs that return value to a card."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.stores import SplitRule, brands, get_store
from domain.cards.stored_value import (
    card_balances,
    card_entries,
    cards,
    get_card,
    lock_card,
    write_entry,
)
from domain.errors import DomainError
from domain.ledger.postings import (
    AccountKind,
    InsufficientFunds,
    Leg,
    ensure_accounts,
    post_transfer,
    store_account,
    transfers,
)
from domain.validation import check_amount


def split_spend(amount: int, principal: int, gift: int, rule: SplitRule) -> tuple[int, int]:
    """How much of `amount` each balance pays. Deterministic; in the proportional rule the fen
    remainder goes to principal. The caller has checked that amount <= principal + gift."""
    if rule == SplitRule.PRINCIPAL_FIRST:
        from_principal = min(amount, principal)
        return from_principal, amount - from_principal
    if rule == SplitRule.GIFT_FIRST:
        from_gift = min(amount, gift)
        return amount - from_gift, from_gift
    from_gift = amount * gift // (principal + gift)
    return amount - from_gift, from_gift


@dataclass(frozen=True)
class CardDebit:
    """What a spend takes from one card; checkout credits the other side of these legs."""

    card_id: int
    member_id: int
    principal: int
    gift: int
    legs: tuple[Leg, ...]
    card: object


async def debit_card(
    db: AsyncConnection, actor: Actor, *, card_id: int, amount: int, field: str = "cardId", card=None, rule: SplitRule | None = None,
    locked: bool = False,
) -> CardDebit:
    """Lock the card, split the amount by the brand's rule and return the debit legs. A caller that
    has already read the card (of the actor's brand) and the brand's rule passes them in; one that
    has taken it with `take_card` says it is `locked`."""
    check_amount(amount)
    if card is None:
        card = await get_card(db, actor, card_id, field)
    if not locked:
        await lock_card(db, card.id)
    principal, gift = await card_balances(db, card)
    if amount > principal + gift:
        raise DomainError("INSUFFICIENT_BALANCE", field, available=f"¥{(principal + gift) / 100:.2f}")
    if rule is None:
        rule = SplitRule((await db.execute(select(brands.c.split_rule).where(brands.c.id == actor.brand_id))).scalar_one())
    from_principal, from_gift = split_spend(amount, principal, gift, rule)
    legs = tuple(
        leg for leg in (Leg(card.principal_account_id, from_principal), Leg(card.gift_account_id, from_gift)) if leg.amount
    )
    return CardDebit(card.id, card.member_id, from_principal, from_gift, legs, card)


async def record_card_entry(db: AsyncConnection, actor: Actor, debit: CardDebit, *, transfer_id: int, kind: str, after: dict, store_id: int, sign: int = -1):
    return await write_entry(
        db, brand_id=actor.brand_id, member_id=debit.member_id, card=debit.card, transfer_id=transfer_id, kind=kind,
        principal_delta=sign * debit.principal, gift_delta=sign * debit.gift, after=after, store_id=store_id, staff_id=actor.staff_id,
    )


@dataclass(frozen=True)
class SpendResult:
    transfer_id: int
    principal: int
    gift: int
    principal_after: int
    gift_after: int


async def spend(db: AsyncConnection, actor: Actor, *, card_id: int, amount: int, store_id: int, reference: str, memo: str | None = None) -> SpendResult:
    """Pay `amount` from the card at `store_id`: principal becomes the store's revenue, gift its
    gift consumed."""
    await get_store(db, actor, store_id)
    debit = await debit_card(db, actor, card_id=card_id, amount=amount)
    ids = await ensure_accounts(
        db, actor.brand_id,
        [store_account(AccountKind.STORE_REVENUE, store_id), store_account(AccountKind.STORE_GIFT_CONSUMED, store_id)],
    )
    legs = [*debit.legs]
    if debit.principal:
        legs.append(Leg(ids[f"store:{store_id}:store_revenue"], -debit.principal))
    if debit.gift:
        legs.append(Leg(ids[f"store:{store_id}:store_gift_consumed"], -debit.gift))
    try:
        transfer_id, after = await post_transfer(
            db, brand_id=actor.brand_id, kind="SPEND", reference=reference, legs=legs,
            store_id=store_id, staff_id=actor.staff_id, member_id=debit.member_id, memo=memo,
        )
    except InsufficientFunds:  # pragma: no cover - the card lock makes this unreachable
        raise DomainError("INSUFFICIENT_BALANCE", "amount", available="—") from None
    p_after, g_after = await record_card_entry(db, actor, debit, transfer_id=transfer_id, kind="SPEND", after=after, store_id=store_id)
    await audit.record(db, actor, "card.spend", "stored_value_card", card_id, after={"amount": amount, "principal": debit.principal, "gift": debit.gift}, store_id=store_id)
    return SpendResult(transfer_id, debit.principal, debit.gift, p_after, g_after)


async def refund_spend(
    db: AsyncConnection, actor: Actor, *, transfer_id: int, reference: str, amount: int | None = None
) -> SpendResult:
    """Put back what a spend took: all of it exactly (amount None), or part of it in the spend's own
    principal:gift proportion, remainder to principal; never more than is left unrefunded."""
    spend_row = (await db.execute(select(transfers).where(transfers.c.id == transfer_id))).first()
    if spend_row is None or spend_row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", "transferId", what="交易")
    entry = (await db.execute(select(card_entries).where(card_entries.c.transfer_id == transfer_id))).first()
    if entry is None or entry.principal_delta > 0 or entry.gift_delta > 0 or entry.kind != "SPEND":
        raise DomainError("NOT_REFUNDABLE", "transferId")
    card = (await db.execute(select(cards).where(cards.c.id == entry.card_id))).one()
    await lock_card(db, card.id, allow_frozen=True)
    took_p, took_g = -entry.principal_delta, -entry.gift_delta
    done = (
        await db.execute(
            select(func.coalesce(func.sum(card_entries.c.principal_delta), 0), func.coalesce(func.sum(card_entries.c.gift_delta), 0))
            .select_from(card_entries.join(transfers, transfers.c.id == card_entries.c.transfer_id))
            .where(transfers.c.reverses_id == transfer_id, card_entries.c.card_id == card.id)
        )
    ).one()
    left_p, left_g = took_p - done[0], took_g - done[1]
    if amount is None:
        back_p, back_g = left_p, left_g
    else:
        check_amount(amount)
        if amount > left_p + left_g:
            raise DomainError("REFUND_EXCEEDS_SPEND", "amount", available=f"¥{(left_p + left_g) / 100:.2f}")
        back_g = min(left_g, amount * took_g // (took_p + took_g))
        back_p = amount - back_g
        if back_p > left_p:
            back_p, back_g = left_p, amount - left_p
    if back_p + back_g == 0:
        raise DomainError("NOT_REFUNDABLE", "transferId")
    store_id = spend_row.store_id
    ids = await ensure_accounts(
        db, actor.brand_id,
        [store_account(AccountKind.STORE_REVENUE, store_id), store_account(AccountKind.STORE_GIFT_CONSUMED, store_id)],
    )
    legs = [
        Leg(card.principal_account_id, -back_p), Leg(ids[f"store:{store_id}:store_revenue"], back_p),
        Leg(card.gift_account_id, -back_g), Leg(ids[f"store:{store_id}:store_gift_consumed"], back_g),
    ]
    refund_id, after = await post_transfer(
        db, brand_id=actor.brand_id, kind="SPEND_REFUND", reference=reference, legs=legs,
        store_id=store_id, staff_id=actor.staff_id, member_id=card.member_id, reverses_id=transfer_id,
    )
    p_after, g_after = await write_entry(
        db, brand_id=actor.brand_id, member_id=card.member_id, card=card, transfer_id=refund_id, kind="SPEND_REFUND",
        principal_delta=back_p, gift_delta=back_g, after=after, store_id=store_id, staff_id=actor.staff_id,
    )
    await audit.record(db, actor, "card.refund", "stored_value_card", card.id, after={"transfer_id": transfer_id, "principal": back_p, "gift": back_g}, store_id=store_id)
    return SpendResult(refund_id, back_p, back_g, p_after, g_after)


async def credit_back(db: AsyncConnection, actor: Actor, *, card_id: int, principal: int, gift: int) -> CardDebit:
    """Legs that return `principal` and `gift` to a card (refunds; frozen cards take them too).
    Record the statement line with `record_card_entry(..., sign=1)` once the transfer is posted."""
    card = (await db.execute(select(cards).where(cards.c.id == card_id))).one()
    await lock_card(db, card.id, allow_frozen=True)
    legs = tuple(leg for leg in (Leg(card.principal_account_id, -principal), Leg(card.gift_account_id, -gift)) if leg.amount)
    return CardDebit(card.id, card.member_id, principal, gift, legs, card)
