"""Platform refunds for finance: what WeChat Pay / Alipay still owe a customer, refused, or refunded
on their own (domain/platform_refunds.py)."""

from __future__ import annotations

from domain import platform_refunds
from domain.platform_refunds import RefundState
from resolvers.context import Context


async def list_for_finance(ctx: Context, *, status: str | None, first: int) -> list:
    async def work(db, actor):
        return await platform_refunds.list_for_finance(db, actor.brand_id, RefundState(status) if status else None, first)

    return await ctx.query("platformRefunds", work)


async def of_refund(ctx: Context, refund_id: int) -> list:
    from domain.db import read_transaction

    async with read_transaction(ctx.engine) as db:
        return await platform_refunds.for_refund(db, refund_id)


async def send_after_commit(ctx: Context, refund_id: int) -> None:
    """Ask the platforms at once, outside the refund's transaction (the worker retries what fails)."""
    platforms = ctx.services.platforms
    if platforms is not None and hasattr(platforms, "send_refunds"):
        await platforms.send_refunds(ctx.services, refund_id)
