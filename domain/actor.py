"""Who is acting: the role and store scope every domain service checks (plumbing: every area imports it)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    OWNER = "OWNER"
    STORE_MANAGER = "STORE_MANAGER"
    RECEPTIONIST = "RECEPTIONIST"
    TECHNICIAN = "TECHNICIAN"
    FINANCE = "FINANCE"
    MARKETER = "MARKETER"


# Roles that act for the whole brand; the rest are bound to the store their account belongs to.
BRAND_WIDE_ROLES = frozenset({Role.OWNER, Role.FINANCE, Role.MARKETER})


# 前台只能查看和录入基本信息: who sees personal data such as phone numbers unmasked.
FULL_PII_ROLES = frozenset({Role.OWNER, Role.STORE_MANAGER, Role.FINANCE})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a staff member of one brand, maybe bound to one store (None for the system
    acting on a customer's or a payment platform's behalf)."""

    staff_id: int | None
    brand_id: int
    role: Role
    store_id: int | None
    name: str = ""

    @property
    def sees_full_pii(self) -> bool:
        return self.role in FULL_PII_ROLES

    def can_act_for_store(self, store_id: int) -> bool:
        return self.role in BRAND_WIDE_ROLES or self.store_id == store_id
