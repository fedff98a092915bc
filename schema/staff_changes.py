"""Staff management: change a staff member's role, store or name; reset their password."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import brands as resolvers
from schema.errors import UserError, user_errors
from schema.types import RoleEnum, Staff


@strawberry.input
class UpdateStaffInput:
    staff_id: strawberry.ID
    role: RoleEnum | None = None
    store_id: strawberry.ID | None = strawberry.field(default=None, description="Required when moving to a store-bound role from a brand-wide one")
    name: str | None = None


@strawberry.input
class ResetStaffPasswordInput:
    staff_id: strawberry.ID
    password: str


@strawberry.type
class StaffChangePayload:
    staff: Staff | None
    errors: list[UserError]


def _payload(info: Info, outcome) -> StaffChangePayload:
    return StaffChangePayload(staff=Staff.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


@strawberry.type
class StaffChangeMutation:
    @strawberry.mutation(description="The owner changes anyone but themselves; a manager their own store's desk staff, within it")
    async def update_staff(self, info: Info, input: UpdateStaffInput) -> StaffChangePayload:
        return _payload(info, await resolvers.update_staff(info.context, staff_id=input.staff_id, role=input.role, store_id=input.store_id, name=input.name))

    @strawberry.mutation(description="A new password; every token issued before it stops working at once")
    async def reset_staff_password(self, info: Info, input: ResetStaffPasswordInput) -> StaffChangePayload:
        return _payload(info, await resolvers.reset_password(info.context, staff_id=input.staff_id, password=input.password))
