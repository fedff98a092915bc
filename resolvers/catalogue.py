"""Services of the catalogue."""

from __future__ import annotations

from domain.brands import catalogue
from domain.cards import count_card_products as card_catalogue
from domain.sales import pricing
from domain.sales.pricing import ItemKind
from domain.errors import DomainError
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id, parse_global_id


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


async def create_count_card_product(
    ctx: Context, *, name: str, service_ids: list[str], sessions: int | None, price: int, valid_days: int,
    daily_limit: int | None, weekly_limit: int | None, store_ids: list[str],
) -> Outcome:
    async def work(db, actor):
        product_id = await card_catalogue.create_count_card_product(
            db, actor, name=name, service_ids=[decode_id(s, "Service", f"serviceIds.{i}") for i, s in enumerate(service_ids)],
            sessions=sessions, price=price, valid_days=valid_days, daily_limit=daily_limit, weekly_limit=weekly_limit,
            store_ids=[decode_id(s, "Store", f"storeIds.{i}") for i, s in enumerate(store_ids)],
        )
        return (await card_catalogue.count_card_products_by_ids(db, [product_id]))[product_id]

    return await ctx.mutate("createCountCardProduct", work)


async def count_card_products(ctx: Context, *, store_id: str | None) -> list:
    async def work(db, actor):
        store_pk = decode_id(store_id, "Store", "storeId") if store_id else None
        return await card_catalogue.list_count_card_products(db, actor.brand_id, store_pk)

    return await ctx.query("countCardProducts", work)


async def set_store_price(ctx: Context, *, store_id: str, item_id: str, price: int | None) -> Outcome:
    async def work(db, actor):
        parsed = parse_global_id(item_id or "")
        kinds = {"Service": ItemKind.SERVICE, "RetailProduct": ItemKind.PRODUCT, "CountCardProduct": ItemKind.COUNT_CARD}
        if parsed is None or parsed[0] not in kinds:
            raise DomainError("NOT_FOUND", "itemId", what="项目")
        await pricing.set_store_price(db, actor, store_id=decode_id(store_id, "Store", "storeId"), kind=kinds[parsed[0]], item_id=parsed[1], price=price)
        return True

    return await ctx.mutate("setStorePrice", work)
