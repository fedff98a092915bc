"""Stored-value cards (储值卡): issue, top-up, freeze (products: domain.cards.stored_value_products), and
spending and refunds as services that checkout composes. Every change is one ledger transfer plus
one statement line (`card_entries`) per card, which is what a member's history shows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import (
    bindparam,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit, outbox
from domain.actor import Actor
from domain.brands.stores import get_store
from domain.cards.stored_value_products import (  # noqa: F401 - the area's names, importable here
    MAX_RULES,
    TopUpRule,
    bonus_for,
    card_products,
    create_product,
    get_product,
    rules_of,
    set_default_product,
    top_up_rules,
)
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.prepared import Prepared
from domain.ledger.postings import (
    AccountKind,
    AccountSpec,
    Leg,
    accounts,
    ensure_accounts,
    post_transfer,
)
from domain.ledger.store_accounts import shard_accounts, shard_for
from domain.members import tiers
from domain.members.members import get_member
from domain.validation import check_amount, check_text
from domain.writes import Write, insert_write


class Tender(enum.StrEnum):
    """How money came in at the desk."""

    CASH = "CASH"
    BANK_CARD = "BANK_CARD"
    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"


class CardStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    # Cashed out (退卡): refuses every later use.
    CLOSED = "CLOSED"


cards = Table(
    "stored_value_cards",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("product_id", Id, ForeignKey("stored_value_card_products.id"), nullable=False),
    Column("issued_store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("status", String(10), nullable=False, default=CardStatus.ACTIVE.value),
    Column("frozen_reason", String(100), nullable=True),
    Column("principal_account_id", Id, ForeignKey("accounts.id"), nullable=True),
    Column("gift_account_id", Id, ForeignKey("accounts.id"), nullable=True),
    # Bumped by every money movement: the conditional bump is the card's lock on both databases.
    Column("version", Integer, nullable=False, default=0),
    created_at_column(),
    UniqueConstraint("member_id", "product_id"),
)


card_entries = Table(
    "card_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("card_id", Id, ForeignKey("stored_value_cards.id"), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("principal_delta", Id, nullable=False),
    Column("gift_delta", Id, nullable=False),
    Column("principal_after", Id, nullable=False),
    Column("gift_after", Id, nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    created_at_column(),
    UniqueConstraint("transfer_id", "card_id"),
    Index("ix_card_entries_member_id_id", "member_id", "id"),
)


async def get_card(db: AsyncConnection, actor: Actor, card_id: int, field: str = "cardId"):
    row = (await db.execute(select(cards).where(cards.c.id == card_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="储值卡")
    return row


async def issue_card(db: AsyncConnection, *, brand_id: int, member_id: int, product_id: int, store_id: int) -> int:
    """The member's card of this product, issued at `store_id` if this is the first top-up."""
    await db.execute(
        insert_ignoring_conflicts(db, cards).values(
            brand_id=brand_id, member_id=member_id, product_id=product_id, issued_store_id=store_id,
            status=CardStatus.ACTIVE.value, version=0, created_at=utcnow(),
        )
    )
    card = (
        await db.execute(select(cards).where(cards.c.member_id == member_id, cards.c.product_id == product_id))
    ).one()
    if card.principal_account_id is None:
        ids = await ensure_accounts(
            db, brand_id,
            [
                AccountSpec(f"svcard:{card.id}:principal", AccountKind.CARD_PRINCIPAL, member_id=member_id, card_id=card.id),
                AccountSpec(f"svcard:{card.id}:gift", AccountKind.CARD_GIFT, member_id=member_id, card_id=card.id),
            ],
        )
        await db.execute(
            update(cards).where(cards.c.id == card.id).values(
                principal_account_id=ids[f"svcard:{card.id}:principal"], gift_account_id=ids[f"svcard:{card.id}:gift"]
            )
        )
    return card.id


_lock_card = (
    update(cards)
    .values(version=cards.c.version + 1)
    .returning(cards.c.status, cards.c.principal_account_id, cards.c.gift_account_id, cards.c.member_id)
)


_take_card = Prepared(
    update(cards)
    .where(cards.c.id == bindparam("take_card"), cards.c.brand_id == bindparam("take_brand"))
    .values(version=cards.c.version + 1)
    .returning(
        *cards.c,
        select(card_products.c.service_discount_percent).where(card_products.c.id == cards.c.product_id).scalar_subquery().label("percent"),
    )
)


async def take_card(db: AsyncConnection, brand_id: int, card_id: int, field: str):
    """The brand's card, locked for this transaction as `lock_card` does, with its product's service
    discount (`percent`): a checkout reads and locks its card in one statement. Its balances are
    read after the lock (`card_balances`), so that they are the ones the lock protects."""
    row = (await _take_card.execute(db, {"take_card": card_id, "take_brand": brand_id})).first()
    if row is None:
        raise DomainError("NOT_FOUND", field, what="储值卡")
    _check_usable(row, allow_frozen=False)
    return row


def _check_usable(row, *, allow_frozen: bool) -> None:
    if row.status == CardStatus.CLOSED:
        raise DomainError("CARD_CLOSED", "cardId")
    if row.status == CardStatus.FROZEN and not allow_frozen:
        raise DomainError("CARD_FROZEN", "cardId")


async def lock_card(db: AsyncConnection, card_id: int, *, allow_frozen: bool = False):
    """Take the card for this transaction: spends, refunds and top-ups of one card run one at a time."""
    row = (await db.execute(_lock_card.where(cards.c.id == card_id))).one()
    _check_usable(row, allow_frozen=allow_frozen)
    return row


_card_balances = Prepared(select(accounts.c.id, accounts.c.balance).where(accounts.c.id.in_([bindparam("principal"), bindparam("gift")])))


async def card_balances(db: AsyncConnection, card) -> tuple[int, int]:
    rows = dict((await _card_balances.execute(db, {"principal": card.principal_account_id, "gift": card.gift_account_id})).all())
    return rows[card.principal_account_id], rows[card.gift_account_id]


_insert_entry = insert(card_entries)


async def write_entry(db, *, brand_id, member_id, card, transfer_id, kind, principal_delta, gift_delta, after, store_id, staff_id):
    p_after = after.get(card.principal_account_id)
    g_after = after.get(card.gift_account_id)
    if p_after is None or g_after is None:
        current_p, current_g = await card_balances(db, card)
        p_after = current_p if p_after is None else p_after
        g_after = current_g if g_after is None else g_after
    await db.execute(_insert_entry, _entry_values(brand_id, member_id, card, transfer_id, kind, principal_delta, gift_delta, p_after, g_after,
                                                   store_id, staff_id))
    return p_after, g_after


def entry_write(*, brand_id, member_id, card, transfer_id, kind, principal_delta, gift_delta, after, store_id, staff_id) -> Write:
    """The statement line `write_entry` writes, when the transfer's `after` has both balances (a spend
    of both), for a caller that sends it with others (domain.writes)."""
    return insert_write(card_entries, _entry_values(
        brand_id, member_id, card, transfer_id, kind, principal_delta, gift_delta,
        after[card.principal_account_id], after[card.gift_account_id], store_id, staff_id,
    ))


def _entry_values(brand_id, member_id, card, transfer_id, kind, principal_delta, gift_delta, p_after, g_after, store_id, staff_id) -> dict:
    return {
        "brand_id": brand_id, "member_id": member_id, "card_id": card.id, "transfer_id": transfer_id, "kind": kind,
        "principal_delta": principal_delta, "gift_delta": gift_delta, "principal_after": p_after, "gift_after": g_after,
        "store_id": store_id, "staff_id": staff_id, "created_at": utcnow(),
    }


@dataclass(frozen=True)
class TopUpResult:
    card_id: int
    transfer_id: int
    amount: int
    bonus: int
    principal: int
    gift: int


async def top_up(
    db: AsyncConnection,
    actor: Actor,
    *,
    member_id: int,
    store_id: int,
    amount: int,
    tender: Tender,
    reference: str,
    card_id: int | None = None,
    product_id: int | None = None,
    before_recording=None,
) -> TopUpResult:
    """Principal += amount; gift += the bonus of the highest rule reached. Issues the member's card
    of `product_id` at this store on the first top-up. `before_recording(product_id)`: what a higher
    area adds before the card is locked (a first top-up's coupon gift)."""
    check_amount(amount)
    await get_store(db, actor, store_id)
    member = await get_member(db, actor, member_id)
    if card_id is not None:
        card = await get_card(db, actor, card_id)
        if card.member_id != member.id:
            raise DomainError("CARD_MEMBER_MISMATCH", "cardId")
        if product_id is not None and product_id != card.product_id:
            raise DomainError("INVALID_VALUE", "cardProductId", what="卡种")
    elif product_id is not None:
        await get_product(db, actor, product_id)
        card_id = await issue_card(db, brand_id=actor.brand_id, member_id=member.id, product_id=product_id, store_id=store_id)
    else:
        raise DomainError("CARD_PRODUCT_REQUIRED", "cardProductId")

    card = (await db.execute(select(cards).where(cards.c.id == card_id))).one()
    if before_recording is not None:
        await before_recording(card.product_id)
    await lock_card(db, card.id)
    bonus = bonus_for(await rules_of(db, card.product_id), amount)
    store = await shard_accounts(db, actor.brand_id, store_id, shard_for(card.id))
    legs = [Leg(store.id(AccountKind.STORE_TENDER, tender.value), amount), Leg(card.principal_account_id, -amount)]
    if bonus:
        legs += [Leg(store.id(AccountKind.STORE_GIFT_ISSUED), bonus), Leg(card.gift_account_id, -bonus)]
    transfer_id, after = await post_transfer(
        db, brand_id=actor.brand_id, kind="TOP_UP", reference=reference, legs=legs,
        store_id=store_id, staff_id=actor.staff_id, member_id=member.id, memo=tender.value,
    )
    principal, gift = await write_entry(
        db, brand_id=actor.brand_id, member_id=member.id, card=card, transfer_id=transfer_id, kind="TOP_UP",
        principal_delta=amount, gift_delta=bonus, after=after, store_id=store_id, staff_id=actor.staff_id,
    )
    await raise_tier(db, member.id, actor.brand_id, amount)
    await audit.record(
        db, actor, "card.top_up", "stored_value_card", card.id,
        after={"amount": amount, "bonus": bonus, "tender": tender.value, "principal": principal, "gift": gift},
        store_id=store_id,
    )
    await outbox.emit(db, brand_id=actor.brand_id, kind="card.topped_up", dedupe_key=f"transfer:{transfer_id}:topped-up", member_id=member.id, store_id=store_id,
                      payload={"card_id": card.id, "transfer_id": transfer_id, "amount": amount, "bonus": bonus, "principal": principal, "gift": gift})
    return TopUpResult(card.id, transfer_id, amount, bonus, principal, gift)


async def raise_tier(db: AsyncConnection, member_id: int, brand_id: int, amount: int) -> None:
    """A top-up counts towards the member's tier under the brand's rules (domain.members.tiers)."""
    await tiers.record_top_up(db, member_id, brand_id, amount)


async def set_frozen(db: AsyncConnection, actor: Actor, *, card_id: int, frozen: bool, reason: str | None = None) -> None:
    """冻结/解冻. A frozen card takes no top-up and pays nothing; refunds still return to it."""
    reason_text = check_text(reason, "reason", "原因", 100, required=False) or None
    card = await get_card(db, actor, card_id)
    if card.status == CardStatus.CLOSED:
        raise DomainError("CARD_CLOSED", "cardId")
    want_from, want_to = (CardStatus.ACTIVE, CardStatus.FROZEN) if frozen else (CardStatus.FROZEN, CardStatus.ACTIVE)
    changed = await db.execute(
        update(cards).where(cards.c.id == card.id, cards.c.status == want_from.value)
        .values(status=want_to.value, frozen_reason=reason_text if frozen else None, version=cards.c.version + 1)
    )
    if changed.rowcount != 1:
        raise DomainError("CARD_FROZEN" if frozen else "CARD_NOT_FROZEN", "cardId")
    await audit.record(
        db, actor, "card.freeze" if frozen else "card.unfreeze", "stored_value_card", card.id,
        before={"status": want_from.value}, after={"status": want_to.value, "reason": reason_text},
    )
