"""Relay global ids: base64 of `Type:pk`. Inputs name the field whose id did not decode."""

from __future__ import annotations

import base64
import binascii

from domain.db import MAX_ROW_ID
from domain.errors import DomainError

WHAT = {
    "Member": "会员",
    "Store": "门店",
    "Staff": "员工",
    "Service": "项目",
    "StoredValueCard": "储值卡",
    "StoredValueCardProduct": "卡种",
    "RetailProduct": "商品",
}


def to_global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def parse_global_id(gid: str) -> tuple[str, int] | None:
    try:
        type_name, pk = base64.b64decode(gid.encode(), validate=True).decode().split(":", 1)
        value = int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if value <= 0 or value > MAX_ROW_ID:
        return None
    return type_name, value


def decode_id(gid: str | None, type_name: str, field: str) -> int:
    """The primary key behind a global id of `type_name`; anything else is NOT_FOUND on `field`,
    so that a wrong or foreign id reveals nothing about what exists."""
    parsed = parse_global_id(gid or "")
    if parsed is None or parsed[0] != type_name:
        raise DomainError("NOT_FOUND", field, what=WHAT.get(type_name, type_name))
    return parsed[1]
