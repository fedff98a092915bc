"""The brands area: sign-in, the brand and its stores, staff, settings, and the catalogue of services and retail products."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.actor import Actor, Role
from domain.brands import catalogue, login_throttle, staff_admin, staff_changes
from domain.brands import staff as staff_accounts
from domain.brands import stores as tenancy
from domain.brands.stores import SplitRule
from domain.cards import stored_value
from domain.errors import DomainError
from domain.ledger.store_accounts import open_store
from resolvers.client_address import client_address
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id


@dataclass
class Login:
    token: str
    actor: Actor


async def staff_login(ctx: Context, *, username: str, password: str) -> Outcome[Login]:
    """Unknown usernames and wrong passwords answer alike (INVALID_CREDENTIALS, one hash each);
    a throttled (username, address) answers LOGIN_THROTTLED before any check, for any username."""
    address = client_address(ctx.request, ctx.services.settings.trusted_proxies)
    async with ctx.reads.reading() as db:
        verdict = await login_throttle.check(db, username=username, address=address)
    if verdict.wait_seconds:
        return Outcome(errors=[DomainError("LOGIN_THROTTLED", seconds=verdict.wait_seconds)])
    if verdict.slow_seconds:
        await asyncio.sleep(verdict.slow_seconds)
    # The failure count must survive the failure, so this transaction commits either way.
    failure: DomainError | None = None
    async with ctx.reads.write_transaction() as db:
        try:
            row = await staff_accounts.authenticate(db, username=username, password=password)
            await login_throttle.record_success(db, username=username, address=address)
        except DomainError as error:
            failure = error
            await login_throttle.record_failure(db, username=username, address=address)
    if failure is not None:
        return Outcome(errors=[failure])
    actor = staff_accounts.actor_from_row(row)
    return Outcome(value=Login(ctx.services.signer.staff_token(actor, row.token_version), actor))


async def viewer(ctx: Context):
    actor = await ctx.authorize("viewer")
    return await ctx.loaders.staff.load(actor.staff_id)


async def brand(ctx: Context):
    return await ctx.query("brand", lambda db, actor: tenancy.get_brand(db, actor.brand_id))


async def stores(ctx: Context) -> list:
    return await ctx.query("stores", lambda db, actor: tenancy.list_stores(db, actor.brand_id))


async def staff_members(ctx: Context) -> list:
    return await ctx.query("staffMembers", staff_accounts.list_staff)


async def create_store(ctx: Context, *, name: str) -> Outcome:
    async def work(db, actor):
        store_id = await open_store(db, brand_id=actor.brand_id, name=name)
        from domain import audit

        await audit.record(db, actor, "store.create", "store", store_id, after={"name": name})
        return (await tenancy.stores_by_ids(db, [store_id]))[store_id]

    return await ctx.mutate("createStore", work)


async def create_staff(ctx: Context, *, username: str, name: str, role: Role, password: str, store_id: str | None) -> Outcome:
    async def work(db, actor):
        store_pk = decode_id(store_id, "Store", "storeId") if store_id else None
        staff_id = await staff_accounts.hire_staff(db, actor, store_id=store_pk, username=username, name=name, role=role, password=password)
        from domain import audit

        await audit.record(db, actor, "staff.create", "staff", staff_id, after={"username": username, "role": role.value, "store_id": store_pk})
        return (await staff_accounts.staff_by_ids(db, [staff_id]))[staff_id]

    return await ctx.mutate("createStaff", work)


async def update_brand_settings(
    ctx: Context, *, split_rule: SplitRule | None, settlement_rate_percent: int | None, default_card_product_id: str | None = None
) -> Outcome:
    async def work(db, actor):
        bp = None if settlement_rate_percent is None else settlement_rate_percent * 100
        product = decode_id(default_card_product_id, "StoredValueCardProduct", "defaultCardProductId") if default_card_product_id else None
        await tenancy.update_brand_settings(db, actor, split_rule=split_rule, settlement_rate_bp=bp)
        if product is not None:
            await stored_value.set_default_product(db, actor, product)
        return await tenancy.get_brand(db, actor.brand_id)

    return await ctx.mutate("updateBrandSettings", work)


async def set_staff_active(ctx: Context, *, staff_id: str, active: bool) -> Outcome:
    operation = "reactivateStaff" if active else "deactivateStaff"

    async def work(db, actor):
        pk = decode_id(staff_id, "Staff", "staffId")
        await staff_admin.set_active(db, actor, staff_id=pk, active=active)
        return (await staff_accounts.staff_by_ids(db, [pk]))[pk]

    return await ctx.mutate(operation, work)


async def create_service(ctx: Context, *, name: str, price: int, duration_minutes: int, category: str) -> Outcome:
    async def work(db, actor):
        service_id = await catalogue.create_service(db, actor, name=name, price=price, duration_minutes=duration_minutes, category=category)
        return next(s for s in await catalogue.list_services(db, actor.brand_id) if s.id == service_id)

    return await ctx.mutate("createService", work)


async def services(ctx: Context) -> list:
    return await ctx.query("services", lambda db, actor: catalogue.list_services(db, actor.brand_id))


async def create_retail_product(ctx: Context, *, name: str, price: int, category: str | None) -> Outcome:
    async def work(db, actor):
        product_id = await catalogue.create_retail_product(db, actor, name=name, price=price, category=category)
        return next(p for p in await catalogue.list_retail_products(db, actor.brand_id) if p.id == product_id)

    return await ctx.mutate("createRetailProduct", work)


async def retail_products(ctx: Context) -> list:
    return await ctx.query("retailProducts", lambda db, actor: catalogue.list_retail_products(db, actor.brand_id))


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
