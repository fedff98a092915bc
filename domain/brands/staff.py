"""Staff accounts of a brand: roles, store scope, Argon2 passwords, sign-in and its lockout."""

from __future__ import annotations

import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    bindparam,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import BRAND_WIDE_ROLES, Actor, Role
from domain.brands.stores import get_store
from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError
from domain.prepared import Prepared
from domain.validation import check_text

staff = Table(
    "staff",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False, index=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("username", String(40), nullable=False, unique=True),
    Column("name", String(40), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    # Tokens carry the version they were issued at; deactivating, reactivating or a new password
    # bumps it, so no token issued before then works again (resolvers/context.py).
    Column("token_version", Integer, nullable=False, default=0),
    created_at_column(),
)


def _password_hasher() -> PasswordHasher:
    # The test suite hashes hundreds of passwords; it alone may ask for a cheap profile.
    if os.environ.get("MEIYE_ARGON2_PROFILE") == "test":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


_hasher = _password_hasher()


# Verified against when the username is unknown so that both paths cost the same.
_DUMMY_HASH = _hasher.hash("meiye-no-such-user")


MIN_PASSWORD_LENGTH = 8



def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError("PASSWORD_TOO_SHORT", "password", min=MIN_PASSWORD_LENGTH)
    return _hasher.hash(password)


async def create_staff(
    db: AsyncConnection,
    *,
    brand_id: int,
    store_id: int | None,
    username: str,
    name: str,
    role: Role,
    password: str,
) -> int:
    username = check_text(username, "username", "用户名", 40)
    name = check_text(name, "name", "姓名", 40)
    if role not in BRAND_WIDE_ROLES and store_id is None:
        raise DomainError("REQUIRED", "storeId", what="门店")
    if await db.scalar(select(staff.c.id).where(staff.c.username == username)):
        raise DomainError("USERNAME_TAKEN", "username")
    password_hash = hash_password(password)
    return (
        await db.execute(
            insert(staff)
            .values(
                brand_id=brand_id,
                store_id=None if role in BRAND_WIDE_ROLES else store_id,
                username=username,
                name=name,
                role=role.value,
                password_hash=password_hash,
            )
            .returning(staff.c.id)
        )
    ).scalar_one()


async def hire_staff(
    db: AsyncConnection, actor: Actor, *, store_id: int | None, username: str, name: str, role: Role, password: str
) -> int:
    """Owners hire anyone; a store manager hires receptionists and technicians for their own store."""
    if actor.role == Role.STORE_MANAGER:
        if role not in (Role.RECEPTIONIST, Role.TECHNICIAN):
            raise DomainError("ROLE_FORBIDDEN", "role")
        store_id = store_id or actor.store_id
    if store_id is not None:
        await get_store(db, actor, store_id)
    return await create_staff(
        db, brand_id=actor.brand_id, store_id=store_id, username=username, name=name, role=role, password=password
    )


def actor_from_row(row) -> Actor:
    return Actor(staff_id=row.id, brand_id=row.brand_id, role=Role(row.role), store_id=row.store_id, name=row.name)


async def authenticate(db: AsyncConnection, *, username: str, password: str):
    """The staff row for a correct username and password, else INVALID_CREDENTIALS. An unknown or
    inactive username costs one hash too, and answers the same. Throttling is the caller's
    (domain/brands/login_throttle.py): it is keyed by who tries from where, not by the account alone,
    so that a stranger cannot lock the owner out."""
    name = (username or "").strip()
    # A name no account can have (control characters, lone surrogates) is not looked up: PostgreSQL
    # would refuse the text, and it must answer like any unknown name.
    storable = not any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in name)
    row = (await db.execute(select(staff).where(staff.c.username == name))).first() if storable else None
    if row is None or not row.active:
        _verify(_DUMMY_HASH, password)
        raise DomainError("INVALID_CREDENTIALS")
    if not _verify(row.password_hash, password):
        raise DomainError("INVALID_CREDENTIALS")
    return row


def _verify(password_hash: str, password: str) -> bool:
    try:
        # As bytes, so that a lone surrogate is one more wrong password rather than an encoding error.
        return _hasher.verify(password_hash, (password or "").encode("utf-8", "surrogatepass"))
    except (VerificationError, InvalidHashError):
        return False


# Built once: every request reads it. Only what an actor is made of and what refuses one: the
# password hash and the rest of the row are not sent on each request.
_staff_by_id = Prepared(
    select(staff.c.id, staff.c.brand_id, staff.c.store_id, staff.c.name, staff.c.role, staff.c.active, staff.c.token_version)
    .where(staff.c.id == bindparam("staff_id"))
)


async def load_actor(db: AsyncConnection, staff_id: int, token_version: int = 0) -> Actor | None:
    """The actor behind a token, re-read so that a deactivated account stops working at once, and
    a token from before a deactivation or a password change never works again."""
    row = (await _staff_by_id.execute(db, {"staff_id": staff_id})).first()
    if row is None or not row.active or row.token_version != token_version:
        return None
    return actor_from_row(row)


async def staff_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(staff).where(staff.c.id.in_(ids)))}


async def list_staff(db: AsyncConnection, actor: Actor) -> list:
    stmt = select(staff).where(staff.c.brand_id == actor.brand_id).order_by(staff.c.id)
    if actor.role not in BRAND_WIDE_ROLES:
        stmt = stmt.where(staff.c.store_id == actor.store_id)
    return list(await db.execute(stmt))
