"""Staff management beyond hiring and deactivation: role, store and name; a password reset."""

from __future__ import annotations

from domain.actor import Role
from domain.brands import staff as staff_accounts
from domain.brands import staff_changes
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id


async def update_staff(ctx: Context, *, staff_id: str, role: Role | None, store_id: str | None, name: str | None) -> Outcome:
    async def work(db, actor):
        pk = decode_id(staff_id, "Staff", "staffId")
        await staff_changes.update_staff(db, actor, staff_id=pk, role=role, name=name,
                                         store_id=decode_id(store_id, "Store", "storeId") if store_id else None)
        return (await staff_accounts.staff_by_ids(db, [pk]))[pk]

    return await ctx.mutate("updateStaff", work)


async def reset_password(ctx: Context, *, staff_id: str, password: str) -> Outcome:
    async def work(db, actor):
        pk = decode_id(staff_id, "Staff", "staffId")
        await staff_changes.reset_password(db, actor, staff_id=pk, password=password)
        return (await staff_accounts.staff_by_ids(db, [pk]))[pk]

    return await ctx.mutate("resetStaffPassword", work)
