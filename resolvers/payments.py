"""Finance's side of the payment platforms: reconciling a platform's bill against our payments, and the
refunds WeChat Pay / Alipay still owe a customer, refused, or made on their own (domain/payments/refunds.py)."""

from __future__ import annotations

import datetime as dt

from domain.payments import refunds as platform_refunds
from domain.payments.refunds import RefundState
from domain.timezones import check_day
from resolvers.context import Context
from resolvers.errors import Outcome


async def reconcile_bill(ctx: Context, *, channel: str, day: dt.date, bill_base64: str, fix: bool) -> Outcome:
    """Finance uploads a platform's bill for a day; the report, and with `fix` the safe repairs."""
    import base64
    import binascii

    from domain.errors import DomainError
    from domain.members.customers import Channel
    from domain.payments import reconciliation

    async def work(db, actor):
        check_day(day, "date")
        try:
            data = base64.b64decode(bill_base64, validate=True)
            rows = ctx.services.parse_bill(Channel(channel), data)
        except (binascii.Error, ValueError, UnicodeError) as error:
            if getattr(error, "code", None) == "BILL_TOO_LARGE":
                raise DomainError("BILL_TOO_LARGE", "bill", max="32 MB") from None
            raise DomainError("INVALID_VALUE", "bill", what=f"对账单（{error}）") from None
        report = await reconciliation.reconcile(db, brand_id=actor.brand_id, channel=Channel(channel), day=day, rows=rows)
        fixed = await reconciliation.fix_safe(db, report) if fix else 0
        return report, fixed

    return await ctx.mutate("reconcileBill", work)


async def list_for_finance(ctx: Context, *, status: str | None, first: int) -> list:
    async def work(db, actor):
        return await platform_refunds.list_for_finance(db, actor.brand_id, RefundState(status) if status else None, first)

    return await ctx.query("platformRefunds", work)


async def of_refund(ctx: Context, refund_id: int) -> list:
    async with ctx.reads.reading() as db:
        return await platform_refunds.for_refund(db, refund_id)


async def send_after_commit(ctx: Context, refund_id: int) -> None:
    """Ask the platforms at once, outside the refund's transaction (the worker retries what fails)."""
    platforms = ctx.services.platforms
    if platforms is not None and hasattr(platforms, "send_refunds"):
        await platforms.send_refunds(ctx.services, refund_id)
