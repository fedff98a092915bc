"""Staff login, the brand, stores, staff accounts, catalogue: queries, mutations, their payloads."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import brands as resolvers
from schema.errors import UserError, user_errors
from schema.scalars import Fen
from schema.types import Brand, RoleEnum, Service, SplitRuleEnum, Staff, Store


@strawberry.input
class StaffLoginInput:
    username: str
    password: str


@strawberry.type
class StaffLoginPayload:
    token: str | None
    staff: Staff | None
    errors: list[UserError]


@strawberry.input
class CreateStoreInput:
    name: str


@strawberry.type
class CreateStorePayload:
    store: Store | None
    errors: list[UserError]


@strawberry.input
class CreateStaffInput:
    username: str
    name: str
    role: RoleEnum
    password: str
    store_id: strawberry.ID | None = None


@strawberry.type
class CreateStaffPayload:
    staff: Staff | None
    errors: list[UserError]


@strawberry.input
class StaffAccountInput:
    staff_id: strawberry.ID


@strawberry.type
class StaffAccountPayload:
    staff: Staff | None
    errors: list[UserError]


@strawberry.input
class UpdateBrandSettingsInput:
    stored_value_split_rule: SplitRuleEnum | None = None
    settlement_rate_percent: int | None = strawberry.field(default=None, description="跨店结算比例, 0-100")
    default_card_product_id: strawberry.ID | None = strawberry.field(default=None, description="The card a customer's first mini-program top-up opens")


@strawberry.type
class UpdateBrandSettingsPayload:
    brand: Brand | None
    errors: list[UserError]


@strawberry.input
class CreateServiceInput:
    name: str
    price: Fen
    duration_minutes: int
    category: str


@strawberry.type
class CreateServicePayload:
    service: Service | None
    errors: list[UserError]


@strawberry.type
class StaffQuery:
    @strawberry.field(description="The signed-in staff member")
    async def viewer(self, info: Info) -> Staff | None:
        row = await resolvers.viewer(info.context)
        return Staff.of(row) if row is not None else None

    @strawberry.field
    async def brand(self, info: Info) -> Brand:
        return Brand.of(await resolvers.brand(info.context))

    @strawberry.field
    async def stores(self, info: Info) -> list[Store]:
        return [Store.of(r) for r in await resolvers.stores(info.context)]

    @strawberry.field(description="Staff accounts of the brand (a store manager sees their store's)")
    async def staff_members(self, info: Info) -> list[Staff]:
        return [Staff.of(r) for r in await resolvers.staff_members(info.context)]

    @strawberry.field
    async def services(self, info: Info) -> list[Service]:
        return [Service.of(r) for r in await resolvers.services(info.context)]


@strawberry.type
class StaffMutation:
    @strawberry.mutation
    async def staff_login(self, info: Info, input: StaffLoginInput) -> StaffLoginPayload:
        outcome = await resolvers.staff_login(info.context, username=input.username, password=input.password)
        if not outcome.ok:
            return StaffLoginPayload(token=None, staff=None, errors=user_errors(outcome.errors, info.context.lang))
        actor = outcome.value.actor
        return StaffLoginPayload(
            token=outcome.value.token,
            staff=Staff(id=_gid("Staff", actor.staff_id), name=actor.name, username=input.username.strip(), role=actor.role, store_id=actor.store_id),
            errors=[],
        )

    @strawberry.mutation
    async def create_store(self, info: Info, input: CreateStoreInput) -> CreateStorePayload:
        outcome = await resolvers.create_store(info.context, name=input.name)
        return CreateStorePayload(store=Store.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def create_staff(self, info: Info, input: CreateStaffInput) -> CreateStaffPayload:
        outcome = await resolvers.create_staff(
            info.context, username=input.username, name=input.name, role=input.role, password=input.password, store_id=input.store_id
        )
        return CreateStaffPayload(staff=Staff.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="停用: the account can no longer sign in, and every token it holds stops working at once "
                                     "(the owner: anyone but themselves; a store manager: their store's desk staff)")
    async def deactivate_staff(self, info: Info, input: StaffAccountInput) -> StaffAccountPayload:
        outcome = await resolvers.set_staff_active(info.context, staff_id=input.staff_id, active=False)
        return StaffAccountPayload(staff=Staff.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="Undo deactivateStaff: the account signs in again; tokens from before stay invalid")
    async def reactivate_staff(self, info: Info, input: StaffAccountInput) -> StaffAccountPayload:
        outcome = await resolvers.set_staff_active(info.context, staff_id=input.staff_id, active=True)
        return StaffAccountPayload(staff=Staff.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def update_brand_settings(self, info: Info, input: UpdateBrandSettingsInput) -> UpdateBrandSettingsPayload:
        outcome = await resolvers.update_brand_settings(
            info.context, split_rule=input.stored_value_split_rule, settlement_rate_percent=input.settlement_rate_percent,
            default_card_product_id=input.default_card_product_id,
        )
        return UpdateBrandSettingsPayload(brand=Brand.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def create_service(self, info: Info, input: CreateServiceInput) -> CreateServicePayload:
        outcome = await resolvers.create_service(
            info.context, name=input.name, price=input.price, duration_minutes=input.duration_minutes, category=input.category
        )
        return CreateServicePayload(service=Service.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


def _gid(type_name: str, pk: int) -> str:
    from resolvers.ids import to_global_id

    return to_global_id(type_name, pk)


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
