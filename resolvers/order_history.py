"""Order history (收银流水) for the desk and the back office."""

from __future__ import annotations

import datetime as dt

from domain.errors import DomainError
from domain.sales import history
from domain.sales.orders import OrderStatus
from resolvers.context import Context
from resolvers.ids import decode_id


async def orders(ctx: Context, *, store_id: str | None, member_id: str | None, status: str | None, day_from: dt.date | None,
                 day_to: dt.date | None, first: int | None, after: str | None) -> tuple[list, bool]:
    async def work(db, actor):
        if status is not None and status not in OrderStatus.__members__:
            raise DomainError("INVALID_VALUE", "status", what="订单状态")
        return await history.page(
            db, actor, store_id=decode_id(store_id, "Store", "storeId") if store_id else None,
            member_id=decode_id(member_id, "Member", "memberId") if member_id else None,
            status=OrderStatus(status) if status else None, day_from=day_from, day_to=day_to, first=first, after=after,
        )

    return await ctx.query("orders", work)
