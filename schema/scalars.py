"""Scalars. Money is `Fen`: a whole number of fen that may exceed GraphQL's 32-bit `Int`."""

from __future__ import annotations

import datetime as dt
from typing import NewType

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError

MAX_FEN = 2**53 - 1  # the largest integer a JavaScript client reads exactly

Fen = NewType("Fen", int)


def _parse_fen(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_FEN:
        raise ValueError("Fen must be a whole number of fen (分), e.g. 100000 for ¥1,000.00")
    return value


def _parse_date(value: object) -> dt.date:
    """Strawberry's Date quotes Python's ValueError ("Invalid isoformat string: ...") to the client."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise StrawberryInputCoercionError("Date must be YYYY-MM-DD, e.g. 2026-12-01 / 日期格式须为 YYYY-MM-DD")


SCALAR_MAP = {
    dt.date: strawberry.scalar(name="Date", description="Date (isoformat)", serialize=dt.date.isoformat, parse_value=_parse_date),
    Fen: strawberry.scalar(
        name="Fen",
        serialize=int,
        parse_value=_parse_fen,
        description="An amount of money in whole fen (分): 100 fen = ¥1. Never fractional.",
    )
}
