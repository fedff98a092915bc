"""Changing a staff account after hiring: its role, store or name, and a password reset by whoever
manages it (the owner: anyone of the brand but themselves; a store manager: the desk staff of
their own store, who stay desk staff of that store). A reset ends every token issued before it
(staff_admin.set_password bumps token_version); a role or store change counts at the account's
next request, since every request re-reads the account (domain.brands.staff.load_actor)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import BRAND_WIDE_ROLES, Actor, Role
from domain.brands.staff import staff
from domain.brands.staff_admin import MANAGED_BY_MANAGERS, managed_account, set_password
from domain.brands.stores import get_store
from domain.errors import DomainError
from domain.validation import check_text


async def _managed(db: AsyncConnection, actor: Actor, staff_id: int):
    return await managed_account(db, actor, staff_id, self_refusal="CANNOT_CHANGE_SELF")


async def update_staff(db: AsyncConnection, actor: Actor, *, staff_id: int, role: Role | None = None, store_id: int | None = None,
                       name: str | None = None) -> None:
    row = await _managed(db, actor, staff_id)
    new_role = role or Role(row.role)
    if actor.role == Role.STORE_MANAGER and new_role not in MANAGED_BY_MANAGERS:
        raise DomainError("ROLE_FORBIDDEN", "role")
    new_store = store_id if store_id is not None else row.store_id
    if new_role in BRAND_WIDE_ROLES:
        new_store = None
    elif new_store is None:
        raise DomainError("REQUIRED", "storeId", what="门店")
    else:
        # A manager keeps their staff in their own store: get_store refuses another.
        await get_store(db, actor, new_store)
    values = {"role": new_role.value, "store_id": new_store}
    if name is not None:
        values["name"] = check_text(name, "name", "姓名", 40)
    before = {k: getattr(row, k) for k in values}
    changed = {k: v for k, v in values.items() if before[k] != v}
    if not changed:
        return
    await db.execute(update(staff).where(staff.c.id == staff_id).values(**changed))
    await audit.record(db, actor, "staff.update", "staff", staff_id, before={k: before[k] for k in changed}, after=changed,
                       store_id=new_store if new_store is not None else row.store_id)


async def reset_password(db: AsyncConnection, actor: Actor, *, staff_id: int, password: str) -> None:
    row = await _managed(db, actor, staff_id)
    await set_password(db, actor, staff_id=row.id, password=password)
