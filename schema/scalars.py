"""Scalars. Money is `Fen`: a whole number of fen that may exceed GraphQL's 32-bit `Int`."""

from __future__ import annotations

from typing import NewType

import strawberry

MAX_FEN = 2**53 - 1  # the largest integer a JavaScript client reads exactly

Fen = NewType("Fen", int)


def _parse_fen(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_FEN:
        raise ValueError("Fen must be a whole number of fen (分), e.g. 100000 for ¥1,000.00")
    return value


SCALAR_MAP = {
    Fen: strawberry.scalar(
        name="Fen",
        serialize=int,
        parse_value=_parse_fen,
        description="An amount of money in whole fen (分): 100 fen = ¥1. Never fractional.",
    )
}
