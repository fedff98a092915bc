"""Order history (收银流水): orders newest first with their lines, payments and refunds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.pagination import encode_cursor
from domain.sales.orders import OrderStatus
from resolvers import order_history as resolvers
from schema.sales import Order
from schema.types import PageInfo

OrderStatusEnum = strawberry.enum(OrderStatus, name="OrderStatus")


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo


def connection(rows: list, more: bool) -> OrderConnection:
    return OrderConnection(
        edges=[OrderEdge(cursor=encode_cursor(r.id), node=Order.of(r)) for r in rows],
        page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(rows[-1].id) if rows else None),
    )


@strawberry.type
class OrderHistoryQuery:
    @strawberry.field(description="收银流水: newest first; store-bound staff see their own store's. from/to are business days, inclusive")
    async def orders(
        self, info: Info, store_id: strawberry.ID | None = None, member_id: strawberry.ID | None = None, status: OrderStatusEnum | None = None,
        from_: Annotated[dt.date | None, strawberry.argument(name="from")] = None, to: dt.date | None = None,
        first: int | None = 20, after: str | None = None,
    ) -> OrderConnection:
        rows, more = await resolvers.orders(info.context, store_id=store_id, member_id=member_id, status=status.value if status else None,
                                            day_from=from_, day_to=to, first=first, after=after)
        return connection(rows, more)
