"""On-account sales (挂账): a member's credit limit, set by a manager, and repayments."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.stores import get_store
from domain.cards.stored_value import Tender
from domain.errors import DomainError
from domain.ledger.postings import (
    AccountKind,
    Leg,
    accounts,
    ensure_accounts,
    post_transfer,
    store_account,
)
from domain.members.members import get_member
from domain.sales.checkout import receivable_account
from domain.validation import check_amount
from domain.actor import Role

MAX_CREDIT_LIMIT = 10_000_000  # ¥100,000


async def set_credit_limit(db: AsyncConnection, actor: Actor, *, member_id: int, limit: int) -> int:
    """Credit is the home store's risk: the owner sets it for anyone, a manager for the members
    registered at their own store."""
    member = await get_member(db, actor, member_id)
    if actor.role != Role.OWNER and member.registered_store_id != actor.store_id:
        raise DomainError("STORE_FORBIDDEN", "memberId")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise DomainError("INVALID_VALUE", "limit", what="挂账额度")
    if limit > MAX_CREDIT_LIMIT:
        raise DomainError("AMOUNT_TOO_LARGE", "limit", max=f"¥{MAX_CREDIT_LIMIT // 100:,}")
    account_id = await receivable_account(db, actor.brand_id, member_id)
    before = (await db.execute(select(accounts.c.balance, accounts.c.ceiling).where(accounts.c.id == account_id))).one()
    changed = await db.execute(update(accounts).where(accounts.c.id == account_id, accounts.c.balance <= limit).values(ceiling=limit))
    if changed.rowcount != 1:
        raise DomainError("CREDIT_LIMIT_BELOW_DEBT", "limit", debt=f"¥{before.balance / 100:,.2f}")
    await audit.record(db, actor, "member.credit_limit", "member", member_id, before={"limit": before.ceiling}, after={"limit": limit})
    return account_id


async def credit_of(db: AsyncConnection, member_id: int, brand_id: int) -> tuple[int, int]:
    """(debt, limit) of a member's on-account."""
    row = (await db.execute(select(accounts.c.balance, accounts.c.ceiling).where(accounts.c.brand_id == brand_id, accounts.c.code == f"member:{member_id}:receivable"))).first()
    return (row.balance, row.ceiling or 0) if row else (0, 0)


async def repay(db: AsyncConnection, actor: Actor, *, member_id: int, store_id: int, amount: int, tender: Tender, reference: str) -> int:
    check_amount(amount)
    await get_store(db, actor, store_id)
    await get_member(db, actor, member_id)
    debt, _limit = await credit_of(db, member_id, actor.brand_id)
    if amount > debt:
        raise DomainError("OVERPAYMENT", "amount", debt=f"¥{debt / 100:,.2f}")
    receivable = await receivable_account(db, actor.brand_id, member_id)
    spec = store_account(AccountKind.STORE_TENDER, store_id, tender.value)
    tender_account = (await ensure_accounts(db, actor.brand_id, [spec]))[spec.code]
    # The conditional update keeps a concurrent repayment from taking the debt below zero.
    moved = await db.execute(update(accounts).where(accounts.c.id == receivable, accounts.c.balance >= amount).values(balance=accounts.c.balance))
    if moved.rowcount != 1:
        raise DomainError("OVERPAYMENT", "amount", debt="—")
    transfer_id, _ = await post_transfer(
        db, brand_id=actor.brand_id, kind="ON_ACCOUNT_REPAYMENT", reference=reference,
        legs=[Leg(tender_account, amount), Leg(receivable, -amount)], store_id=store_id, staff_id=actor.staff_id, member_id=member_id,
        memo=tender.value,
    )
    await audit.record(db, actor, "member.repay", "member", member_id, after={"amount": amount, "tender": tender.value}, store_id=store_id)
    return transfer_id


async def credit_by_member_ids(db: AsyncConnection, member_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(debt, limit) per member."""
    rows = await db.execute(
        select(accounts.c.member_id, accounts.c.balance, accounts.c.ceiling)
        .where(accounts.c.member_id.in_(member_ids), accounts.c.kind == AccountKind.MEMBER_RECEIVABLE.value)
    )
    return {m: (balance, ceiling or 0) for m, balance, ceiling in rows}
