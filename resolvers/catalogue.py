"""Services of the catalogue."""

from __future__ import annotations

from domain import catalogue
from resolvers.context import Context
from resolvers.errors import Outcome


async def create_service(ctx: Context, *, name: str, price: int, duration_minutes: int, category: str) -> Outcome:
    async def work(db, actor):
        service_id = await catalogue.create_service(db, actor, name=name, price=price, duration_minutes=duration_minutes, category=category)
        return next(s for s in await catalogue.list_services(db, actor.brand_id) if s.id == service_id)

    return await ctx.mutate("createService", work)


async def services(ctx: Context) -> list:
    return await ctx.query("services", lambda db, actor: catalogue.list_services(db, actor.brand_id))
