"""Brands (tenants), stores, staff accounts, roles, and who is acting (`Actor`)."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, created_at_column, metadata
from domain.errors import DomainError


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


class SplitRule(enum.StrEnum):
    """Which balance of a stored-value card pays (DESIGN.md §4)."""

    PROPORTIONAL = "PROPORTIONAL"
    PRINCIPAL_FIRST = "PRINCIPAL_FIRST"
    GIFT_FIRST = "GIFT_FIRST"


brands = Table(
    "brands",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(60), nullable=False),
    Column("split_rule", String(20), nullable=False, default=SplitRule.PROPORTIONAL.value),
    # The share of consumed value the selling store pays the serving store, in basis points.
    Column("settlement_rate_bp", Integer, nullable=False, default=10000),
    Column("timezone", String(40), nullable=False, default="Asia/Shanghai"),
    Column("member_seq", Integer, nullable=False, default=0),
    # Tiers follow cumulative top-up principal, in fen.
    # The card a customer's first top-up in the mini-program opens; None: the brand's first product.
    Column("default_card_product_id", Id, nullable=True),
    Column("silver_threshold", Id, nullable=False, default=300_000),
    Column("gold_threshold", Id, nullable=False, default=1_000_000),
    created_at_column(),
    CheckConstraint("settlement_rate_bp BETWEEN 0 AND 10000", name="settlement_rate"),
)

stores = Table(
    "stores",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False, index=True),
    Column("name", String(60), nullable=False),
    Column("timezone", String(40), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
)

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


def check_text(value: str | None, field: str, what: str, max_len: int, *, required: bool = True) -> str:
    """Trimmed text within its limit, or a coded error naming the field."""
    text = (value or "").strip()
    if required and not text:
        raise DomainError("REQUIRED", field, what=what)
    if len(text) > max_len:
        raise DomainError("TOO_LONG", field, what=what, max=max_len)
    return text


async def create_brand(db: AsyncConnection, *, name: str) -> int:
    name = check_text(name, "name", "品牌名称", 60)
    return (await db.execute(insert(brands).values(name=name).returning(brands.c.id))).scalar_one()


async def create_store(db: AsyncConnection, *, brand_id: int, name: str, field: str = "name") -> int:
    name = check_text(name, field, "门店名称", 60)
    taken = await db.scalar(select(stores.c.id).where(stores.c.brand_id == brand_id, stores.c.name == name))
    if taken:
        raise DomainError("DUPLICATE_NAME", field, name=name)
    return (
        await db.execute(insert(stores).values(brand_id=brand_id, name=name).returning(stores.c.id))
    ).scalar_one()


async def get_store(db: AsyncConnection, actor: Actor, store_id: int, *, field: str = "storeId", act: bool = True):
    """The store, if it is the actor's brand's; `act` also requires that the actor may act for it."""
    row = (await db.execute(select(stores).where(stores.c.id == store_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="门店")
    if act and not actor.can_act_for_store(store_id):
        raise DomainError("STORE_FORBIDDEN", field)
    return row


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
    (domain/login_throttle.py): it is keyed by who tries from where, not by the account alone,
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


async def load_actor(db: AsyncConnection, staff_id: int, token_version: int = 0) -> Actor | None:
    """The actor behind a token, re-read so that a deactivated account stops working at once, and
    a token from before a deactivation or a password change never works again."""
    row = (await db.execute(select(staff).where(staff.c.id == staff_id))).first()
    if row is None or not row.active or row.token_version != token_version:
        return None
    return actor_from_row(row)


async def stores_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(stores).where(stores.c.id.in_(ids)))}


async def staff_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(staff).where(staff.c.id.in_(ids)))}


async def list_stores(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(stores).where(stores.c.brand_id == brand_id).order_by(stores.c.id)))


async def list_staff(db: AsyncConnection, actor: Actor) -> list:
    stmt = select(staff).where(staff.c.brand_id == actor.brand_id).order_by(staff.c.id)
    if actor.role not in BRAND_WIDE_ROLES:
        stmt = stmt.where(staff.c.store_id == actor.store_id)
    return list(await db.execute(stmt))


async def get_brand(db: AsyncConnection, brand_id: int):
    return (await db.execute(select(brands).where(brands.c.id == brand_id))).one()


async def update_brand_settings(
    db: AsyncConnection, actor: Actor, *, split_rule: SplitRule | None = None, settlement_rate_bp: int | None = None,
    default_card_product_id: int | None = None,
) -> None:
    from domain import audit

    before = await get_brand(db, actor.brand_id)
    values: dict = {}
    if split_rule is not None:
        values["split_rule"] = split_rule.value
    if settlement_rate_bp is not None:
        if not 0 <= settlement_rate_bp <= 10000:
            raise DomainError("INVALID_VALUE", "settlementRatePercent", what="结算比例（0-100%）")
        values["settlement_rate_bp"] = settlement_rate_bp
    if default_card_product_id is not None:
        from domain.cards import get_product

        await get_product(db, actor, default_card_product_id, "defaultCardProductId")
        values["default_card_product_id"] = default_card_product_id
    if values:
        await db.execute(update(brands).where(brands.c.id == actor.brand_id).values(**values))
        await audit.record(
            db, actor, "brand.settings", "brand", actor.brand_id,
            before={k: getattr(before, k) for k in values}, after=values,
        )
