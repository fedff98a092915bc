"""Relay refetch, `node(id)` and `nodes(ids)`, on both schemas (DESIGN.md §7).

Each type answers only what the caller could see through that type's own query, with the same
checks: the role (OPERATION_ROLES and FIELD_ROLES), the brand, and the store where that query
enforces it (orders, a manager's staff and audit log). Anything else is null, so that "does not
exist" and "not yours" look the same. A customer sees their own member, cards, count cards and
payments, and the brand's stores and count-card products (which their own queries list).
"""

from __future__ import annotations

from typing import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import BRAND_WIDE_ROLES, Actor, Role
from domain.audit import audit_log
from domain.bookings import bookings as booking_service
from domain.bookings import reviews as review_service
from domain.bookings.resources import resources
from domain.bookings.waitlist import waitlist_entries
from domain.brands.catalogue import retail_products
from domain.brands.stores import brands
from domain.cards.count_cards import count_cards
from domain.cards.stored_value import card_entries
from domain.errors import DomainError
from domain.members.points import points_entries
from domain.notifications.reminders import notifications
from domain.sales.orders import order_lines
from domain.sales.refunds import refunds
from resolvers.errors import QueryError
from resolvers.ids import parse_global_id
from resolvers.permissions import allowed, field_allowed

MAX_NODES = 100


async def _row(db: AsyncConnection, table, pk: int):
    return (await db.execute(select(table).where(table.c.id == pk))).first()


def _brand_row(row, actor_brand: int):
    return row if row is not None and row.brand_id == actor_brand else None


async def _order_for(ctx, actor: Actor, order_id: int):
    row = await ctx.loaders.order.load(order_id)
    return row if row is not None and row.brand_id == actor.brand_id and actor.can_act_for_store(row.store_id) else None


async def _staff(ctx, db, actor: Actor, pk: int):
    row = _brand_row(await ctx.loaders.staff.load(pk), actor.brand_id)
    if row is None or row.id == actor.staff_id:  # `viewer`: everyone sees themselves
        return row
    if not allowed(actor, "staffMembers"):
        return None
    return row if actor.role in BRAND_WIDE_ROLES or row.store_id == actor.store_id else None


async def _order_line(ctx, db, actor: Actor, pk: int):
    row = await _row(db, order_lines, pk)
    return row if row is not None and await _order_for(ctx, actor, row.order_id) is not None else None


async def _refund(ctx, db, actor: Actor, pk: int):
    row = await _row(db, refunds, pk)
    return row if row is not None and await _order_for(ctx, actor, row.order_id) is not None else None


async def _audit_entry(ctx, db, actor: Actor, pk: int):
    row = _brand_row(await _row(db, audit_log, pk), actor.brand_id)
    if row is not None and actor.role == Role.STORE_MANAGER and row.store_id != actor.store_id:
        return None
    return row


async def _booking(ctx, db, actor: Actor, pk: int):
    try:  # the same checks as the booking's own reads: brand, store, a technician's own
        return await booking_service.get_booking(db, actor, pk)
    except DomainError:
        return None


async def _review(ctx, db, actor: Actor, pk: int):
    try:
        return await review_service.get_review(db, actor, pk)
    except DomainError:
        return None


def _store_scoped(table):
    async def load(ctx, db, actor: Actor, pk: int):
        row = _brand_row(await _row(db, table, pk), actor.brand_id)
        return row if row is not None and actor.can_act_for_store(row.store_id) else None

    return load


def _may(operation: str, field: str | None = None) -> Callable[[Actor], bool]:
    return lambda actor: allowed(actor, operation) and (field is None or field_allowed(actor, field))


def _loaded(loader: str):
    async def load(ctx, db, actor: Actor, pk: int):
        return _brand_row(await getattr(ctx.loaders, loader).load(pk), actor.brand_id)

    return load


def _table(table):
    async def load(ctx, db, actor: Actor, pk: int):
        return _brand_row(await _row(db, table, pk), actor.brand_id)

    return load


async def _brand(ctx, db, actor: Actor, pk: int):
    return await _row(db, brands, pk) if pk == actor.brand_id else None


async def _order(ctx, db, actor: Actor, pk: int):
    return await _order_for(ctx, actor, pk)


# type name -> (may the role see this type at all, load the row if this caller may see it)
STAFF_TYPES: dict[str, tuple[Callable[[Actor], bool], Callable[..., Awaitable[object]]]] = {
    "Brand": (_may("brand"), _brand),
    "Store": (_may("stores"), _loaded("store")),
    "Staff": (_may("viewer"), _staff),
    "Service": (_may("services"), _loaded("service")),
    "RetailProduct": (_may("retailProducts"), _table(retail_products)),
    "StoredValueCardProduct": (_may("storedValueCardProducts"), _loaded("card_product")),
    "CountCardProduct": (_may("countCardProducts"), _loaded("count_card_product")),
    "Member": (_may("member"), _loaded("member")),
    "StoredValueCard": (_may("storedValueCard"), _loaded("card")),
    "CountCard": (_may("member", "Member.countCards"), _table(count_cards)),
    "MemberTransaction": (_may("member", "Member.transactions"), _table(card_entries)),
    "Order": (_may("order"), _order),
    "OrderLine": (_may("order"), _order_line),
    "Refund": (_may("order"), _refund),
    "AuditEntry": (_may("auditLog"), _audit_entry),
    "PointsEntry": (_may("member"), _table(points_entries)),
    "Notification": (_may("notifications"), _table(notifications)),
    "Booking": (_may("bookings"), _booking),
    "Review": (_may("reviews"), _review),
    # every role lists a store's rooms (`resources`); the waitlist is the desk's, of its own store
    "Resource": (_may("resources"), _table(resources)),
    "WaitlistEntry": (_may("waitlist"), _store_scoped(waitlist_entries)),
}


def check_count(ids: list[str], lang: str) -> None:
    if len(ids) > MAX_NODES:
        raise QueryError(DomainError("TOO_MANY", "ids", what="ID", max=MAX_NODES), lang)


async def staff_nodes(ctx, ids: list[str], operation: str) -> list[tuple[str, object] | None]:
    """(type name, row) for each id the caller may see, else None, in order."""
    check_count(ids, ctx.lang)
    actor = await ctx.authorize(operation)
    found: list[tuple[str, object] | None] = []
    async with ctx.reads.reading() as db:
        for gid in ids:
            parsed = parse_global_id(gid)
            entry = STAFF_TYPES.get(parsed[0]) if parsed else None
            row = None
            if entry is not None and entry[0](actor):
                row = await entry[1](ctx, db, actor, parsed[1])
            found.append((parsed[0], row) if row is not None else None)
    return found


async def customer_nodes(ctx, ids: list[str]) -> list[tuple[str, object] | None]:
    """The signed-in customer's own member, cards, count cards and payments; the brand's stores
    and count-card products. Every other id, or someone else's, is None."""
    from domain.brands.stores import stores
    from domain.cards.count_card_products import count_card_products
    from domain.payments.records import payment_intents

    check_count(ids, ctx.lang)
    customer = await ctx.customer()
    own = {"Member": None, "StoredValueCard": None, "CountCard": count_cards, "Payment": payment_intents}
    brand_wide = {"Store": stores, "CountCardProduct": count_card_products}
    found: list[tuple[str, object] | None] = []
    async with ctx.reads.reading() as db:
        for gid in ids:
            parsed = parse_global_id(gid)
            row = None
            if parsed is not None and parsed[0] in own and customer.member_id is not None:
                type_name, pk = parsed
                if type_name == "Member":
                    row = await ctx.loaders.member.load(pk) if pk == customer.member_id else None
                elif type_name == "StoredValueCard":
                    row = await ctx.loaders.card.load(pk)  # with its balances, which live in the ledger
                    row = row if row is not None and row.member_id == customer.member_id else None
                else:
                    row = await _row(db, own[type_name], pk)
                    row = row if row is not None and row.member_id == customer.member_id else None
            elif parsed is not None and parsed[0] in brand_wide:
                row = _brand_row(await _row(db, brand_wide[parsed[0]], parsed[1]), customer.brand_id)
            found.append((parsed[0], row) if row is not None else None)
    return found
