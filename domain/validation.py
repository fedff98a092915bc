"""Checks of plain input values shared by every area: text within its limit, amounts in fen."""

from __future__ import annotations

from domain.errors import DomainError


def check_text(value: str | None, field: str, what: str, max_len: int, *, required: bool = True) -> str:
    """Trimmed text within its limit, or a coded error naming the field."""
    text = (value or "").strip()
    if required and not text:
        raise DomainError("REQUIRED", field, what=what)
    if len(text) > max_len:
        raise DomainError("TOO_LONG", field, what=what, max=max_len)
    return text


MAX_AMOUNT = 100_000_000  # ¥1,000,000 in one operation: beyond any real top-up, short of any overflow.


def check_amount(amount: int, field: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError("INVALID_VALUE", field, what="金额")
    if amount <= 0:
        raise DomainError("AMOUNT_NOT_POSITIVE", field)
    if amount > MAX_AMOUNT:
        raise DomainError("AMOUNT_TOO_LARGE", field, max=f"¥{MAX_AMOUNT // 100:,}")
    return amount
