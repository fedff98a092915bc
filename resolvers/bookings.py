"""The bookings area: resources, service booking rules, shifts, availability, bookings, the
waitlist, reviews, the leaderboard and the booking settings, for staff and for customers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from zoneinfo import ZoneInfo

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from domain import idempotency
from domain.bookings import bookings as booking_service
from domain.bookings import leaderboard as board
from domain.bookings import resources as resource_service
from domain.bookings import reviews as review_service
from domain.bookings import settings as booking_settings
from domain.bookings import shifts as shift_service
from domain.bookings import waitlist as waitlist_service
from domain.bookings.records import CancelKind
from domain.bookings.resources import ResourceKind
from domain.bookings.shifts import ShiftSpec
from domain.brands import catalogue
from domain.brands.stores import get_store, store_timezone
from domain.errors import DomainError
from domain.members.customers import system_actor
from domain.sales.orders import lines_by_order_ids, orders
from resolvers.context import Context
from resolvers.errors import Outcome, QueryError
from resolvers.ids import decode_id

MAX_SHIFT_DAYS = 62


# ---------------------------------------------------------------------------------------------
# Per-request loaders of this area (kept here so that the shared Loaders need not know bookings)


class _AreaLoaders:
    def __init__(self, db) -> None:
        """`db`: the request's read connection (resolvers.request_db)."""
        self.db = db
        self.timezones: dict[int, str] = {}

        async def batch(fetch, keys):
            found = await fetch(db, list(keys))
            return [found.get(k) for k in keys]

        self.resource = DataLoader(load_fn=lambda keys: batch(resource_service.resources_by_ids, keys))
        self.booking = DataLoader(load_fn=lambda keys: batch(booking_service.bookings_by_ids, keys))
        self.rules = DataLoader(load_fn=lambda keys: batch(resource_service.rules_by_service_ids, keys))
        self.skilled = DataLoader(load_fn=lambda keys: batch(resource_service.skilled_by_service_ids, keys))
        self.rating = DataLoader(load_fn=self._ratings)

    async def _ratings(self, keys: list[tuple[int, int]]) -> list:
        found: dict = {}
        for brand_id in {b for b, _ in keys}:
            rated = await review_service.ratings(self.db, brand_id, [t for b, t in keys if b == brand_id])
            found.update({(brand_id, t): v for t, v in rated.items()})
        return [found[k] for k in keys]

    async def timezone(self, store_id: int, brand_id: int) -> ZoneInfo:
        if store_id not in self.timezones:
            self.timezones[store_id] = await store_timezone(self.db, store_id, brand_id)
        return ZoneInfo(self.timezones[store_id])


def area_loaders(ctx) -> _AreaLoaders:
    if "_booking_loaders" not in ctx.__dict__:
        ctx.__dict__["_booking_loaders"] = _AreaLoaders(ctx.reads.db)
    return ctx.__dict__["_booking_loaders"]


# ---------------------------------------------------------------------------------------------
# Staff: resources, services, shifts


async def create_resource(ctx: Context, *, store_id: str, name: str, kind: ResourceKind) -> Outcome:
    async def work(db, actor):
        rid = await resource_service.create_resource(db, actor, store_id=decode_id(store_id, "Store", "storeId"), name=name, kind=kind)
        return (await resource_service.resources_by_ids(db, [rid]))[rid]

    return await ctx.mutate("createResource", work)


async def resources(ctx: Context, *, store_id: str) -> list:
    return await ctx.query("resources", lambda db, actor: resource_service.list_resources(db, actor, decode_id(store_id, "Store", "storeId")))


async def update_service(ctx: Context, *, service_id: str, buffer_minutes: int | None, resource_kind: ResourceKind | None,
                         clear_resource_kind: bool, technician_ids: list[str] | None) -> Outcome:
    async def work(db, actor):
        pk = decode_id(service_id, "Service", "serviceId")
        await resource_service.update_service(
            db, actor, service_id=pk, buffer_minutes=buffer_minutes, resource_kind=resource_kind, clear_resource_kind=clear_resource_kind,
            technician_ids=None if technician_ids is None else [decode_id(t, "Staff", f"technicianIds.{i}") for i, t in enumerate(technician_ids)],
        )
        return (await catalogue.services_by_ids(db, [pk]))[pk]

    return await ctx.mutate("updateService", work)


@dataclass
class ShiftsSet:
    rows: list
    # Bookings that a refused change would have left outside every shift.
    stranded: list


async def set_shifts(ctx: Context, *, technician_id: str, store_id: str, shifts: list[tuple[dt.date, str, str]], clear_dates: list[dt.date]) -> Outcome[ShiftsSet]:
    async def work(db, actor):
        rows = await shift_service.set_shifts(
            db, actor, technician_id=decode_id(technician_id, "Staff", "technicianId"), store_id=decode_id(store_id, "Store", "storeId"),
            specs=[ShiftSpec(d, s, e) for d, s, e in shifts], clear_dates=clear_dates,
        )
        return ShiftsSet(rows, [])

    outcome = await ctx.mutate("setShifts", work)
    stranded = [i for e in outcome.errors for i in e.params.get("booking_ids", [])]
    if stranded:
        async with ctx.reads.reading() as db:
            found = await booking_service.bookings_by_ids(db, stranded)
        outcome.value = ShiftsSet([], [found[i] for i in stranded])
    return outcome


async def shifts(ctx: Context, *, store_id: str, from_: dt.date, to: dt.date, technician_id: str | None) -> list:
    async def work(db, actor):
        store_pk = decode_id(store_id, "Store", "storeId")
        await get_store(db, actor, store_pk)
        if to < from_ or (to - from_).days >= MAX_SHIFT_DAYS:
            raise DomainError("DATE_RANGE_INVALID", "to")
        dates = [(from_ + dt.timedelta(days=i)).isoformat() for i in range((to - from_).days + 1)]
        tech = actor.staff_id if actor.role == "TECHNICIAN" else (decode_id(technician_id, "Staff", "technicianId") if technician_id else None)
        return await shift_service.list_shifts(db, technician_ids=[tech] if tech else None, store_id=store_pk, dates=dates)

    return await ctx.query("shifts", work)


# ---------------------------------------------------------------------------------------------
# Staff: availability and bookings


@dataclass
class LocalSlots:
    slots: list
    tz: ZoneInfo
    brand_id: int


async def _slots(db, actor, store_id: str, service_id: str, day: dt.date, technician_id: str | None) -> LocalSlots:
    store_pk = decode_id(store_id, "Store", "storeId")
    found = await booking_service.availability(
        db, actor, store_id=store_pk, service_id=decode_id(service_id, "Service", "serviceId"), day=day,
        technician_id=decode_id(technician_id, "Staff", "technicianId") if technician_id else None,
    )
    return LocalSlots(found, ZoneInfo(await store_timezone(db, store_pk, actor.brand_id)), actor.brand_id)


async def availability(ctx: Context, *, store_id: str, service_id: str, day: dt.date, technician_id: str | None) -> LocalSlots:
    return await ctx.query("availability", lambda db, actor: _slots(db, actor, store_id, service_id, day, technician_id))


async def create_booking(ctx: Context, *, store_id: str, member_id: str, service_id: str, technician_id: str | None, start: dt.datetime,
                         note: str | None, idempotency_key: str) -> Outcome:
    request = {"storeId": store_id, "memberId": member_id, "serviceId": service_id, "technicianId": technician_id, "start": start.isoformat(), "note": note}

    async def work(db, actor):
        async def run():
            bid = await booking_service.create_booking(
                db, actor, store_id=decode_id(store_id, "Store", "storeId"), member_id=decode_id(member_id, "Member", "memberId"),
                service_id=decode_id(service_id, "Service", "serviceId"),
                technician_id=decode_id(technician_id, "Staff", "technicianId") if technician_id else None, start=start, note=note,
            )
            return {"booking_id": bid}

        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="createBooking",
            request=request, run=run, guard=lambda: get_store(db, actor, decode_id(store_id, "Store", "storeId")),
        )
        return await booking_service.get_booking(db, actor, done["booking_id"])

    return await ctx.mutate("createBooking", work)


async def reschedule_booking(ctx: Context, *, booking_id: str, start: dt.datetime, technician_id: str | None, idempotency_key: str | None) -> Outcome:
    request = {"bookingId": booking_id, "start": start.isoformat(), "technicianId": technician_id}

    async def work(db, actor):
        async def run():
            bid = await booking_service.reschedule(
                db, actor, booking_id=decode_id(booking_id, "Booking", "bookingId"), start=start,
                technician_id=decode_id(technician_id, "Staff", "technicianId") if technician_id else None,
            )
            return {"booking_id": bid}

        if idempotency_key is None:
            done = await run()
        else:
            done, _ = await idempotency.once(
                db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="rescheduleBooking",
                request=request, run=run, guard=lambda: booking_service.get_booking(db, actor, decode_id(booking_id, "Booking", "bookingId")),
            )
        return await booking_service.get_booking(db, actor, done["booking_id"])

    return await ctx.mutate("rescheduleBooking", work)


def _cancel_kind(reason: str, by: CancelKind | None) -> CancelKind:
    """The reason may itself name who cancelled (CUSTOMER, STORE, LATE); else `by`, else the store."""
    named = (reason or "").strip().upper()
    if named in CancelKind.__members__:
        return CancelKind(named)
    return by or CancelKind.STORE


async def cancel_booking(ctx: Context, *, booking_id: str, reason: str, by: CancelKind | None) -> Outcome:
    async def work(db, actor):
        bid = await booking_service.cancel(db, actor, booking_id=decode_id(booking_id, "Booking", "bookingId"), reason=reason, kind=_cancel_kind(reason, by))
        return await booking_service.get_booking(db, actor, bid)

    return await ctx.mutate("cancelBooking", work)


async def move_booking(ctx: Context, operation: str, *, booking_id: str) -> Outcome:
    """confirmBooking, markNoShow, completeBooking: one status change each."""
    step = {"confirmBooking": booking_service.confirm, "markNoShow": booking_service.mark_no_show, "completeBooking": booking_service.complete}[operation]

    async def work(db, actor):
        bid = await step(db, actor, booking_id=decode_id(booking_id, "Booking", "bookingId"))
        return await booking_service.get_booking(db, actor, bid)

    return await ctx.mutate(operation, work)


@dataclass
class CheckedIn:
    booking: object
    order: object


async def check_in_booking(ctx: Context, *, booking_id: str) -> Outcome[CheckedIn]:
    async def work(db, actor):
        bid, order_id = await booking_service.check_in(db, actor, booking_id=decode_id(booking_id, "Booking", "bookingId"))
        order = (await db.execute(select(orders).where(orders.c.id == order_id))).one()
        return CheckedIn(await booking_service.get_booking(db, actor, bid), order)

    return await ctx.mutate("checkInBooking", work)


async def bookings(ctx: Context, *, store_id: str, day: dt.date, technician_id: str | None) -> list:
    async def work(db, actor):
        return await booking_service.list_bookings(db, actor, store_id=decode_id(store_id, "Store", "storeId"), day=day,
                                                   technician_id=decode_id(technician_id, "Staff", "technicianId") if technician_id else None)

    return await ctx.query("bookings", work)


async def waitlist(ctx: Context, *, store_id: str, day: dt.date) -> list:
    return await ctx.query("waitlist", lambda db, actor: waitlist_service.list_waiting(db, actor, store_id=decode_id(store_id, "Store", "storeId"), day=day))


# ---------------------------------------------------------------------------------------------
# Staff: reviews, leaderboard, settings


async def reviews(ctx: Context, *, store_id: str | None, technician_id: str | None) -> list:
    async def work(db, actor):
        store_pk = decode_id(store_id, "Store", "storeId") if store_id else None
        if store_pk is not None:
            await get_store(db, actor, store_pk)
        return await review_service.list_reviews(db, actor, store_id=store_pk,
                                                 technician_id=decode_id(technician_id, "Staff", "technicianId") if technician_id else None)

    return await ctx.query("reviews", work)


async def review_action(ctx: Context, operation: str, *, review_id: str, text: str) -> Outcome:
    async def work(db, actor):
        pk = decode_id(review_id, "Review", "reviewId")
        if operation == "replyToReview":
            await review_service.reply(db, actor, review_id=pk, text=text)
        else:
            await review_service.hide(db, actor, review_id=pk, reason=text)
        return (await db.execute(select(review_service.technician_reviews).where(review_service.technician_reviews.c.id == pk))).one()

    return await ctx.mutate(operation, work)


async def leaderboard(ctx: Context, *, store_id: str | None, from_: dt.date, to: dt.date) -> list:
    async def work(db, actor):
        return await board.leaderboard(db, actor, store_id=decode_id(store_id, "Store", "storeId") if store_id else None, start_day=from_, end_day=to)

    return await ctx.query("technicianLeaderboard", work)


async def settings(ctx: Context):
    return await ctx.query("bookingSettings", lambda db, actor: booking_settings.get_settings(db, actor.brand_id))


async def update_settings(ctx: Context, *, changes: dict, clear_confirm: bool) -> Outcome:
    return await ctx.mutate("updateBookingSettings", lambda db, actor: booking_settings.update_settings(db, actor, changes=changes, clear_confirm=clear_confirm))


SETTING_NAMES = [f.name for f in fields(booking_settings.BookingSettings)]


# ---------------------------------------------------------------------------------------------
# Customers (the mini-program): the same services, acting for their own member only


async def _customer_run(ctx, work, *, write: bool = False, bound: bool = True):
    """Run `work(db, actor, member_id)` for the signed-in customer; domain errors are returned."""
    customer = await ctx.customer()
    if bound and customer.member_id is None:
        raise DomainError("NOT_BOUND", "phoneCode")
    actor = system_actor(customer.brand_id)
    async with ctx.reads.write_transaction() if write else ctx.reads.reading() as db:
        return await work(db, actor, customer)


async def _customer_query(ctx, work, *, bound: bool = False):
    try:
        return await _customer_run(ctx, work, bound=bound)
    except DomainError as error:
        raise QueryError(error, ctx.lang) from None


async def _customer_mutate(ctx, work) -> Outcome:
    try:
        return Outcome(value=await _customer_run(ctx, work, write=True))
    except DomainError as error:
        return Outcome(errors=[error])


async def mp_services(ctx, *, store_id: str | None) -> list:
    async def work(db, actor, customer):
        if store_id:
            await get_store(db, actor, decode_id(store_id, "Store", "storeId"))
        return [s for s in await catalogue.list_services(db, actor.brand_id) if s.active]

    return await _customer_query(ctx, work)


async def mp_technicians(ctx, *, store_id: str) -> list:
    async def work(db, actor, customer):
        store_pk = decode_id(store_id, "Store", "storeId")
        await get_store(db, actor, store_pk)
        return await resource_service.store_technicians(db, actor.brand_id, store_pk)

    return await _customer_query(ctx, work)


async def mp_availability(ctx, *, store_id: str, service_id: str, day: dt.date, technician_id: str | None) -> LocalSlots:
    return await _customer_query(ctx, lambda db, actor, customer: _slots(db, actor, store_id, service_id, day, technician_id))


async def mp_create_booking(ctx, *, store_id: str, service_id: str, technician_id: str | None, start: dt.datetime, note: str | None,
                            idempotency_key: str) -> Outcome:
    request = {"storeId": store_id, "serviceId": service_id, "technicianId": technician_id, "start": start.isoformat(), "note": note}

    async def work(db, actor, customer):
        async def run():
            bid = await booking_service.create_booking(
                db, actor, store_id=decode_id(store_id, "Store", "storeId"), member_id=customer.member_id,
                service_id=decode_id(service_id, "Service", "serviceId"),
                technician_id=decode_id(technician_id, "Staff", "technicianId") if technician_id else None, start=start, note=note, by_customer=True,
            )
            return {"booking_id": bid}

        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.customer_sender(customer.identity_id), key=idempotency_key,
            operation="mp.createBooking", request=request, run=run,
        )
        return await booking_service.get_booking(db, actor, done["booking_id"], member_id=customer.member_id)

    return await _customer_mutate(ctx, work)


async def mp_cancel_booking(ctx, *, booking_id: str, reason: str) -> Outcome:
    async def work(db, actor, customer):
        bid = await booking_service.cancel(db, actor, booking_id=decode_id(booking_id, "Booking", "bookingId"), reason=reason,
                                           kind=CancelKind.CUSTOMER, member_id=customer.member_id)
        return await booking_service.get_booking(db, actor, bid, member_id=customer.member_id)

    return await _customer_mutate(ctx, work)


async def mp_join_waitlist(ctx, *, store_id: str, service_id: str, day: dt.date, technician_id: str | None) -> Outcome:
    async def work(db, actor, customer):
        return await waitlist_service.join(
            db, actor, store_id=decode_id(store_id, "Store", "storeId"), member_id=customer.member_id, service_id=decode_id(service_id, "Service", "serviceId"),
            day=day, technician_id=decode_id(technician_id, "Staff", "technicianId") if technician_id else None,
        )

    return await _customer_mutate(ctx, work)


async def mp_review(ctx, *, line_id: str, rating: int, tags: list[str], comment: str | None, recommend: bool) -> Outcome:
    async def work(db, actor, customer):
        rid = await review_service.review(db, brand_id=customer.brand_id, member_id=customer.member_id, line_id=decode_id(line_id, "OrderLine", "orderLineId"),
                                          rating=rating, tags=tags, comment=comment, recommend=recommend)
        return (await db.execute(select(review_service.technician_reviews).where(review_service.technician_reviews.c.id == rid))).one()

    return await _customer_mutate(ctx, work)


async def my_bookings(ctx, member_id: int) -> list:
    async with ctx.reads.reading() as db:
        return await booking_service.member_bookings(db, member_id)


@dataclass
class MyOrderRead:
    order: object
    lines: list  # (line, reviewable)


async def my_orders(ctx, member_id: int, limit: int = 50) -> list[MyOrderRead]:
    """The member's paid orders, newest first, each line saying whether it can be reviewed now."""
    async with ctx.reads.reading() as db:
        rows = list(await db.execute(select(orders).where(orders.c.member_id == member_id, orders.c.paid_at.is_not(None))
                                     .order_by(orders.c.paid_at.desc(), orders.c.id.desc()).limit(limit)))
        lines = await lines_by_order_ids(db, [o.id for o in rows])
        reviewed = await review_service.reviewed_lines(db, [l.id for ls in lines.values() for l in ls])
    now = dt.datetime.now(dt.UTC)
    return [MyOrderRead(o, [(l, review_service.reviewable(l, o, reviewed, now)) for l in lines[o.id]]) for o in rows]
