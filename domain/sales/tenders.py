"""The tenders a checkout takes: the methods, the shape a list of payments must have, and the
member's receivable that an on-account (挂账) payment debits."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import DomainError
from domain.ledger.postings import AccountKind, AccountSpec, accounts, ensure_accounts
from domain.validation import check_amount


class Method(enum.StrEnum):
    STORED_VALUE = "STORED_VALUE"
    COUNT_CARD = "COUNT_CARD"
    CASH = "CASH"
    BANK_CARD = "BANK_CARD"
    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"
    ON_ACCOUNT = "ON_ACCOUNT"


DESK_TENDERS = (Method.CASH, Method.BANK_CARD, Method.WECHAT, Method.ALIPAY)


@dataclass(frozen=True)
class PaymentSpec:
    method: Method
    amount: int | None = None
    card_id: int | None = None
    count_card_id: int | None = None


def check_payment_shapes(payments: list[PaymentSpec], member_id: int | None, *, may_be_empty: bool = False) -> None:
    if not payments and not may_be_empty:
        raise DomainError("PAYMENT_INVALID", "payments", why="至少需要一种支付方式")
    if len(payments) > 20:
        raise DomainError("TOO_MANY", "payments", what="支付方式", max=20)
    open_amounts = 0
    for i, pay in enumerate(payments):
        where = f"payments.{i}"
        if pay.method == Method.COUNT_CARD:
            if pay.count_card_id is None:
                raise DomainError("REQUIRED", f"{where}.countCardId", what="次卡")
            if pay.amount is not None or pay.card_id is not None:
                raise DomainError("PAYMENT_INVALID", where, why="次卡支付不填金额和储值卡")
        else:
            if pay.count_card_id is not None:
                raise DomainError("PAYMENT_INVALID", f"{where}.countCardId", why="只有次卡支付需要次卡")
            if pay.method == Method.STORED_VALUE and pay.card_id is None:
                raise DomainError("REQUIRED", f"{where}.cardId", what="储值卡")
            if pay.method != Method.STORED_VALUE and pay.card_id is not None:
                raise DomainError("PAYMENT_INVALID", f"{where}.cardId", why="只有储值卡支付需要卡")
            if pay.amount is None:
                open_amounts += 1
            else:
                check_amount(pay.amount, f"{where}.amount")
        if pay.method in (Method.STORED_VALUE, Method.COUNT_CARD, Method.ON_ACCOUNT) and member_id is None:
            raise DomainError("MEMBER_REQUIRED", where)
    if open_amounts > 1:
        raise DomainError("PAYMENT_INVALID", "payments", why="最多一种支付方式可不填金额")
    cards_named = [pay.card_id for pay in payments if pay.method == Method.STORED_VALUE]
    if len(cards_named) != len(set(cards_named)):
        raise DomainError("PAYMENT_INVALID", "payments", why="同一张储值卡只能作为一种支付方式，请合并金额")


async def receivable_account(db: AsyncConnection, brand_id: int, member_id: int) -> int:
    spec = AccountSpec(f"member:{member_id}:receivable", AccountKind.MEMBER_RECEIVABLE, member_id=member_id)
    account_id = (await ensure_accounts(db, brand_id, [spec]))[spec.code]
    # A member without a limit set has none: the ceiling starts at zero.
    await db.execute(update(accounts).where(accounts.c.id == account_id, accounts.c.ceiling.is_(None)).values(ceiling=0))
    return account_id
