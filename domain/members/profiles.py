"""The profile the staff rely on (360° 画像): birthday, gender, allergies (过敏), preferences (偏好)
and notes (备注), kept like phone numbers (DESIGN.md §8): each field sealed at rest with the
deployment's data key (AES-GCM, bound to its field), so a database dump reveals none of it.

Birthdays are sealed whole too, month and day included: nothing reads them in SQL yet. A birthday
campaign would add a keyed index of the month and day (as phones have), not a clear column.

Changes are audited with before and after, and the audit log is no copy in clear: each profile
value in it is sealed the same way (`sealed:<ciphertext>`), readable by whoever holds the key when
a dispute needs it."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Column, ForeignKey, Table, Text, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.db import Id, metadata
from domain.errors import DomainError
from domain.members.members import get_member
from domain.members.pii import PiiCipher
from domain.validation import check_text


class Gender(enum.StrEnum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    OTHER = "OTHER"


FIELDS = ("birthday", "gender", "allergies", "preferences", "notes")
TEXT_LIMITS = {"allergies": ("过敏信息", 200), "preferences": ("偏好", 200), "notes": ("备注", 500)}
EARLIEST_BIRTHDAY = dt.date(1900, 1, 1)

member_profiles = Table(
    "member_profiles",
    metadata,
    Column("member_id", Id, ForeignKey("members.id"), primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    *(Column(f"{name}_cipher", Text, nullable=True) for name in FIELDS),
)


def _purpose(name: str) -> bytes:
    return f"member-profile:{name}".encode()


def _clean(name: str, value, today: dt.date) -> str | None:
    """A field's value as text to seal, or None to clear it ("" for the text fields)."""
    if name == "birthday":
        if not isinstance(value, dt.date) or not EARLIEST_BIRTHDAY <= value <= today:
            raise DomainError("INVALID_VALUE", "birthday", what=f"生日（{EARLIEST_BIRTHDAY}至今天）")
        return value.isoformat()
    if name == "gender":
        return Gender(value).value
    what, limit = TEXT_LIMITS[name]
    return check_text(value, name, what, limit, required=False) or None


async def set_profile(db: AsyncConnection, actor: Actor, cipher: PiiCipher, *, member_id: int, changes: dict) -> None:
    """Change the fields named in `changes` (a text field given "" is cleared), audited."""
    changes = {k: v for k, v in changes.items() if k in FIELDS}
    if not changes:
        return
    await get_member(db, actor, member_id)
    today = dt.datetime.now(dt.UTC).date()
    cleaned = {name: _clean(name, value, today) for name, value in changes.items()}
    row = (await db.execute(select(member_profiles).where(member_profiles.c.member_id == member_id))).first()
    if row is None:
        await db.execute(insert(member_profiles).values(member_id=member_id, brand_id=actor.brand_id))
    before = {name: getattr(row, f"{name}_cipher") if row is not None else None for name in cleaned}
    sealed = {f"{name}_cipher": cipher.encrypt(text, _purpose(name)) if text is not None else None for name, text in cleaned.items()}
    await db.execute(update(member_profiles).where(member_profiles.c.member_id == member_id).values(**sealed))
    await audit.record(
        db, actor, "member.profile", "member", member_id,
        before={name: _for_audit(cipher, name, value) for name, value in before.items()},
        after={name: _for_audit(cipher, name, sealed[f"{name}_cipher"]) for name in cleaned},
    )


def _for_audit(cipher: PiiCipher, name: str, stored: str | None) -> str | None:
    """A profile value as the audit log keeps it: sealed again under the audit's own purpose."""
    if stored is None:
        return None
    return "sealed:" + cipher.encrypt(cipher.decrypt(stored, _purpose(name)), b"audit:" + _purpose(name))


def read(cipher: PiiCipher, row, name: str) -> str | None:
    stored = getattr(row, f"{name}_cipher", None) if row is not None else None
    return cipher.decrypt(stored, _purpose(name)) if stored else None


async def profiles_by_member_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.member_id: r for r in await db.execute(select(member_profiles).where(member_profiles.c.member_id.in_(ids)))}
