"""Daily close and the cross-store settlement statement; on-account credit."""

from __future__ import annotations

import datetime as dt

from domain import credit, idempotency, reports
from domain.cards import Tender
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id


async def daily_close(ctx: Context, *, store_id: str, day: dt.date):
    return await ctx.query("dailyClose", lambda db, actor: reports.daily_close(db, actor, store_id=decode_id(store_id, "Store", "storeId"), day=day))


async def settlement(ctx: Context, *, start: dt.date, end: dt.date):
    return await ctx.query("crossStoreSettlement", lambda db, actor: reports.settlement_statement(db, actor, start_day=start, end_day=end))


async def set_credit_limit(ctx: Context, *, member_id: str, limit: int) -> Outcome:
    async def work(db, actor):
        pk = decode_id(member_id, "Member", "memberId")
        await credit.set_credit_limit(db, actor, member_id=pk, limit=limit)
        return pk

    return await ctx.mutate("setCreditLimit", work)


async def repay(ctx: Context, *, member_id: str, store_id: str, amount: int, tender: Tender, idempotency_key: str) -> Outcome:
    request = {"memberId": member_id, "storeId": store_id, "amount": amount, "tender": tender.value}

    async def work(db, actor):
        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="repayOnAccount",
            request=request, run=lambda: repay_now(db, actor), guard=lambda: may_repay(db, actor),
        )
        return done["member_id"]

    async def repay_now(db, actor) -> dict:
        pk = decode_id(member_id, "Member", "memberId")
        await credit.repay(db, actor, member_id=pk, store_id=decode_id(store_id, "Store", "storeId"), amount=amount, tender=tender,
                           reference=idempotency.scoped_reference("repay", idempotency.staff_sender(actor.staff_id), idempotency_key))
        return {"member_id": pk}

    async def may_repay(db, actor) -> None:
        from domain.members import get_member
        from domain.tenancy import get_store

        await get_store(db, actor, decode_id(store_id, "Store", "storeId"))
        await get_member(db, actor, decode_id(member_id, "Member", "memberId"))

    return await ctx.mutate("repayOnAccount", work)


async def reconcile_bill(ctx: Context, *, channel: str, day: dt.date, bill_base64: str, fix: bool) -> Outcome:
    """Finance uploads a platform's bill for a day; the report, and with `fix` the safe repairs."""
    import base64
    import binascii

    from domain import reconciliation
    from domain.errors import DomainError
    from domain.payment_types import Channel

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
