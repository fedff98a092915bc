"""The reports area: the daily close and the cross-store settlement statement."""

from __future__ import annotations

import datetime as dt

from domain.reports import daily_close as reports
from domain.reports import settlement as settlement_report
from resolvers.context import Context
from resolvers.ids import decode_id


async def daily_close(ctx: Context, *, store_id: str, day: dt.date):
    return await ctx.query("dailyClose", lambda db, actor: reports.daily_close(db, actor, store_id=decode_id(store_id, "Store", "storeId"), day=day))


async def settlement(ctx: Context, *, start: dt.date, end: dt.date):
    return await ctx.query("crossStoreSettlement", lambda db, actor: settlement_report.settlement_statement(db, actor, start_day=start, end_day=end))



async def technician_performance(ctx: Context, *, store_id: str | None, start: dt.date, end: dt.date):
    from domain.reports import performance

    async def work(db, actor):
        # Decoded here, after authorize and inside the query's error handling: a bad id is NOT_FOUND, not a 500.
        store_pk = decode_id(store_id, "Store", "storeId") if store_id else None
        return await performance.technician_performance(db, actor, store_id=store_pk, start_day=start, end_day=end)

    return await ctx.query("technicianPerformance", work)


async def prepaid_liability(ctx: Context, *, day: dt.date | None):
    from domain.reports import liability

    return await ctx.query("prepaidLiability", lambda db, actor: liability.prepaid_liability(db, actor, day=day))


async def commission_rules(ctx: Context):
    from domain.reports import performance

    return await ctx.query("commissionRules", lambda db, actor: performance.rules_of(db, actor.brand_id))


async def set_commission_rules(ctx: Context, rules: list):
    from domain.reports import performance

    async def work(db, actor):
        parsed = []
        for r in rules:
            target = str(decode_id(r["service_id"], "Service", "serviceId")) if r.get("service_id") else (r.get("category") or "")
            parsed.append(performance.Rule(performance.RuleKind(r["kind"]), target, r.get("rate_bp"), r.get("amount")))
        return await performance.set_rules(db, actor, parsed)

    return await ctx.mutate("setCommissionRules", work)


async def set_escrow_ratio(ctx: Context, ratio_bp: int):
    from domain.reports import liability

    return await ctx.mutate("setEscrowRatio", lambda db, actor: liability.set_escrow_ratio(db, actor, ratio_bp))


async def member_value(ctx: Context, *, member_id: str):
    from domain.members.members import get_member
    from domain.reports import member_value as values

    async def work(db, actor):
        member = await get_member(db, actor, decode_id(member_id, "Member", "memberId"))
        return (await values.member_values(db, actor.brand_id, [member.id]))[member.id]

    return await ctx.query("memberValue", work)
