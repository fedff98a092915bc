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
