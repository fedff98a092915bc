"""The audit log, for the owner, finance, and a store manager's own store."""

from __future__ import annotations

from domain import audit
from domain.actor import Role
from domain.pagination import decode_cursor, page_size
from resolvers.context import Context


async def audit_log(ctx: Context, *, first: int | None, after: str | None):
    async def work(db, actor):
        store_id = actor.store_id if actor.role == Role.STORE_MANAGER else None
        return await audit.page(db, actor, limit=page_size(first), before_id=decode_cursor(after), store_id=store_id)

    return await ctx.query("auditLog", work)

