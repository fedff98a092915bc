"""Finance's side of the payment platforms: reconciling a platform's bill against our payments."""

from __future__ import annotations

import datetime as dt

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
        try:
            data = base64.b64decode(bill_base64, validate=True)
            rows = ctx.services.parse_bill(Channel(channel), data)
        except (binascii.Error, ValueError, UnicodeError) as error:
            raise DomainError("INVALID_VALUE", "bill", what=f"对账单（{error}）") from None
        report = await reconciliation.reconcile(db, brand_id=actor.brand_id, channel=Channel(channel), day=day, rows=rows)
        fixed = await reconciliation.fix_safe(db, report) if fix else 0
        return report, fixed

    return await ctx.mutate("reconcileBill", work)
