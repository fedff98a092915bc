"""Staff accounts after hiring: deactivation, reactivation, a new password. Each bumps the
account's token_version, so that no token issued before it works again (even after reactivation)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.errors import DomainError
from domain.actor import Actor, Role
from domain.brands.staff import hash_password, staff

# What a store manager may manage: the desk staff of their own store, never another manager.
MANAGED_BY_MANAGERS = frozenset({Role.RECEPTIONIST, Role.TECHNICIAN})


async def managed_account(db: AsyncConnection, actor: Actor, staff_id: int, *, self_refusal: str = "CANNOT_DEACTIVATE_SELF"):
    """The account, if the actor may manage it: the owner any of the brand's but their own; a
    manager the desk staff of their own store."""
    row = (await db.execute(select(staff).where(staff.c.id == staff_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", "staffId", what="员工")
    if row.id == actor.staff_id:
        raise DomainError(self_refusal, "staffId")
    if actor.role == Role.OWNER:
        return row
    if actor.role == Role.STORE_MANAGER and row.store_id == actor.store_id:
        if Role(row.role) in MANAGED_BY_MANAGERS:
            return row
        raise DomainError("ROLE_FORBIDDEN", "staffId")
    raise DomainError("STORE_FORBIDDEN", "staffId")


async def set_active(db: AsyncConnection, actor: Actor, *, staff_id: int, active: bool) -> None:
    row = await managed_account(db, actor, staff_id)
    if row.active == active:
        return
    await db.execute(
        update(staff).where(staff.c.id == staff_id).values(active=active, token_version=staff.c.token_version + 1)
    )
    await audit.record(
        db, actor, "staff.reactivate" if active else "staff.deactivate", "staff", staff_id,
        before={"active": row.active}, after={"active": active}, store_id=row.store_id,
    )


async def set_password(db: AsyncConnection, actor: Actor, *, staff_id: int, password: str) -> None:
    """A new password (no API calls this yet): every token issued before it stops working."""
    password_hash = hash_password(password)
    await db.execute(
        update(staff).where(staff.c.id == staff_id, staff.c.brand_id == actor.brand_id)
        .values(password_hash=password_hash, token_version=staff.c.token_version + 1)
    )
    await audit.record(db, actor, "staff.password", "staff", staff_id)
