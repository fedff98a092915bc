"""Cursor pagination shared by every list: opaque cursors and the page-size cap."""

from __future__ import annotations

import base64
import re

from domain.db import MAX_ROW_ID
from domain.errors import DomainError

MAX_PAGE = 100
# A cursor holds a row id: digits only (int() would also take "-5", "1_0", " 7" and other scripts'
# digits), within a BIGINT (MAX_ROW_ID).
_ROW_ID = re.compile(r"[0-9]{1,19}")


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"c:{value}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        if kind != "c" or not _ROW_ID.fullmatch(value) or int(value) > MAX_ROW_ID:
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise DomainError("INVALID_CURSOR", "after") from None


def page_size(first: int | None, field: str = "first") -> int:
    size = 20 if first is None else first
    if size < 1 or size > MAX_PAGE:
        raise DomainError("INVALID_VALUE", field, what=f"分页大小（1-{MAX_PAGE}）")
    return size
