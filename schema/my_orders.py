"""The customer's own orders on the mini-program (me.orders): what they bought, paid and got back.
MyOrderLine carries what any line shows; the reviews work adds what it needs (a `reviewable` flag)."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from domain.errors import DomainError
from domain.pagination import encode_cursor
from domain.sales import history
from resolvers.errors import QueryError
from resolvers.ids import to_global_id
from schema.scalars import Fen
from schema.types import Node, PageInfo, Store, _store


@strawberry.type
class MyOrderLine(Node):
    kind: str
    name: str
    quantity: int
    unit_price: Fen
    net_amount: Fen
    refunded_quantity: int
    refunded_amount: Fen
    technician_id: strawberry.Private[int | None]
    service_id: strawberry.Private[int | None]

    @staticmethod
    def of(row) -> "MyOrderLine":
        return MyOrderLine(id=to_global_id("OrderLine", row.id), kind=row.kind, name=row.name, quantity=row.quantity, unit_price=row.unit_price,
                           net_amount=row.net_amount, refunded_quantity=row.refunded_quantity, refunded_amount=row.refunded_amount,
                           technician_id=row.technician_id, service_id=row.item_id if row.kind == "SERVICE" else None)


@strawberry.type
class MyOrder(Node):
    status: str
    total: Fen
    paid: Fen
    refunded: Fen
    points_earned: int
    paid_at: dt.datetime | None
    pk: strawberry.Private[int]
    store_id: strawberry.Private[int]

    @strawberry.field
    async def store(self, info: Info) -> Store | None:
        return await _store(info, self.store_id)

    @strawberry.field
    async def lines(self, info: Info) -> list[MyOrderLine]:
        return [MyOrderLine.of(r) for r in await info.context.loaders.order_lines.load(self.pk)]


@strawberry.type
class MyOrderEdge:
    cursor: str
    node: MyOrder


@strawberry.type
class MyOrderConnection:
    edges: list[MyOrderEdge]
    page_info: PageInfo


async def my_orders(info: Info, member_id: int, first: int | None, after: str | None) -> MyOrderConnection:
    try:
        async with info.context.engine.connect() as db:
            rows, more = await history.member_page(db, member_id=member_id, first=first, after=after)
    except DomainError as error:
        raise QueryError(error, info.context.lang) from None
    return MyOrderConnection(
        edges=[MyOrderEdge(cursor=encode_cursor(r.id), node=MyOrder(
            id=to_global_id("Order", r.id), status=r.status, total=r.total, paid=r.paid, refunded=r.refunded, points_earned=r.points_earned,
            paid_at=r.paid_at, pk=r.id, store_id=r.store_id)) for r in rows],
        page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(rows[-1].id) if rows else None),
    )
