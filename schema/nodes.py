"""Relay `node(id)` / `nodes(ids)` on both schemas; who sees what is resolvers/nodes.py."""

from __future__ import annotations

import json

import strawberry
from strawberry.types import Info

from resolvers import nodes as resolvers
from resolvers.ids import to_global_id
from schema.bookings import Booking, Resource, Review, WaitlistEntry
from schema.notifications import Notification
from schema.sales import Order, OrderLine, Refund, RetailProduct, refund_of
from schema.types import (
    AuditEntry,
    Brand,
    CountCard,
    CountCardProduct,
    Member,
    MemberTransaction,
    Node,
    PointsEntry,
    Service,
    Staff,
    Store,
    StoredValueCard,
    StoredValueCardProduct,
)

NODE_HELP = "Relay refetch by global id; null for an id that is unknown or that the caller may not see"
NODES_HELP = f"node(id) for each id, in order (at most {resolvers.MAX_NODES})"


def _audit_entry(row) -> AuditEntry:
    return AuditEntry(
        id=to_global_id("AuditEntry", row.id), action=row.action, entity=row.entity,
        entity_id=str(row.entity_id) if row.entity_id is not None else None,
        before=json.loads(row.before) if row.before else None, after=json.loads(row.after) if row.after else None,
        created_at=row.created_at, staff_id=row.staff_id,
    )


async def _refund(info: Info, row) -> Refund:
    return await refund_of(info, row)


STAFF_OBJECTS = {
    "Brand": lambda info, row: Brand.of(row),
    "Store": lambda info, row: Store.of(row),
    "Staff": lambda info, row: Staff.of(row),
    "Service": lambda info, row: Service.of(row),
    "RetailProduct": lambda info, row: RetailProduct.of(row),
    "StoredValueCardProduct": lambda info, row: StoredValueCardProduct.of(row),
    "CountCardProduct": lambda info, row: CountCardProduct.of(row),
    "Member": lambda info, row: Member.of(row, info),
    "StoredValueCard": lambda info, row: StoredValueCard.of(row),
    "CountCard": lambda info, row: CountCard.of(row),
    "MemberTransaction": lambda info, row: MemberTransaction.of(row),
    "Order": lambda info, row: Order.of(row),
    "OrderLine": lambda info, row: OrderLine.of(row),
    "AuditEntry": lambda info, row: _audit_entry(row),
    "PointsEntry": lambda info, row: PointsEntry.of(row),
    "Notification": lambda info, row: Notification.of(row),
    "Resource": lambda info, row: Resource.of(row),
    "Review": lambda info, row: Review.of(row),
    "WaitlistEntry": lambda info, row: WaitlistEntry.of(row),
}


async def _staff_object(info: Info, found) -> Node | None:
    if found is None:
        return None
    type_name, row = found
    if type_name == "Refund":
        return await _refund(info, row)
    if type_name == "Booking":
        return await Booking.of(info, row)
    return STAFF_OBJECTS[type_name](info, row)


@strawberry.type
class NodeQuery:
    @strawberry.field(description=NODE_HELP)
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        (found,) = await resolvers.staff_nodes(info.context, [id], "node")
        return await _staff_object(info, found)

    @strawberry.field(description=NODES_HELP)
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        return [await _staff_object(info, found) for found in await resolvers.staff_nodes(info.context, list(ids), "nodes")]


async def _customer_object(info: Info, found) -> Node | None:
    from schema import customer as mp_api

    if found is None:
        return None
    type_name, row = found
    if type_name == "Member":
        return mp_api.Me.of(row, info)
    if type_name == "StoredValueCard":
        return await mp_api.my_stored_value_card(info, row)
    if type_name == "CountCard":
        return await mp_api._my_count_card(info, row.id)
    if type_name == "Payment":
        return mp_api.Payment.of(row)
    if type_name == "Store":
        return Store.of(row)
    return CountCardProduct.of(row)


@strawberry.type
class MpNodeQuery:
    @strawberry.field(description=NODE_HELP + " (a customer: their own member, cards, count cards and payments)")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        (found,) = await resolvers.customer_nodes(info.context, [id])
        return await _customer_object(info, found)

    @strawberry.field(description=NODES_HELP)
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        return [await _customer_object(info, found) for found in await resolvers.customer_nodes(info.context, list(ids))]
