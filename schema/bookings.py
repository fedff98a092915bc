"""Bookings and reviews (DESIGN.md §7, the contract's second part): staff queries and mutations, and
the customer's types and fields for the mini-program. Times are DateTime with the store's offset."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.bookings.records import BookingStatus, CancelKind
from domain.bookings.shifts import clock
from resolvers import bookings as resolvers
from resolvers.bookings import area_loaders
from resolvers.ids import to_global_id
from schema.errors import UserError, user_errors
from schema.sales import Order
from schema.scalars import Fen
from schema.types import Member, Node, ResourceKindEnum, Service, Store, _store

BookingStatusEnum = strawberry.enum(BookingStatus, name="BookingStatus")
CancelKindEnum = strawberry.enum(CancelKind, name="CancelKind", description="Who cancelled: the customer, the store, or the customer after the brand's cancellation time")


@strawberry.type(description="A technician as customers and boards see them: a name and a rating")
class Technician:
    id: strawberry.ID
    name: str
    pk: strawberry.Private[int]
    brand_id: strawberry.Private[int]

    @strawberry.field(description="Bayesian average of counted reviews: (C·m + Σ ratings) / (C + n), C = 5, m = the brand's mean")
    async def rating(self, info: Info) -> Decimal:
        return (await area_loaders(info.context).rating.load((self.brand_id, self.pk)))[0]

    @strawberry.field
    async def review_count(self, info: Info) -> int:
        return (await area_loaders(info.context).rating.load((self.brand_id, self.pk)))[1]

    @staticmethod
    def of(row, brand_id: int) -> "Technician":
        return Technician(id=to_global_id("Staff", row.id), name=row.name, pk=row.id, brand_id=brand_id)


async def _technician(info: Info, staff_id: int | None) -> Technician | None:
    if staff_id is None:
        return None
    row = await info.context.loaders.staff.load(staff_id)
    return Technician.of(row, row.brand_id) if row is not None else None


async def _service(info: Info, service_id: int) -> Service:
    return Service.of(await info.context.loaders.service.load(service_id))


@strawberry.type
class Resource(Node):
    name: str
    kind: ResourceKindEnum
    active: bool
    store_id: strawberry.Private[int]

    @strawberry.field
    async def store(self, info: Info) -> Store:
        return await _store(info, self.store_id)

    @staticmethod
    def of(row) -> "Resource":
        return Resource(id=to_global_id("Resource", row.id), name=row.name, kind=row.kind, active=row.active, store_id=row.store_id)


@strawberry.type(description="A shift in the store's wall-clock time")
class Shift:
    date: dt.date
    start: str
    end: str
    technician_id: strawberry.Private[int]
    store_id: strawberry.Private[int]

    @strawberry.field
    async def technician(self, info: Info) -> Technician:
        return await _technician(info, self.technician_id)

    @staticmethod
    def of(row) -> "Shift":
        return Shift(date=dt.date.fromisoformat(row.local_date), start=clock(row.start_minute), end=clock(row.end_minute),
                     technician_id=row.technician_id, store_id=row.store_id)


@strawberry.type(description="A free start; with no technician asked for, `technicians` lists everyone free, least booked first")
class Slot:
    start: dt.datetime
    end: dt.datetime
    technician_ids: strawberry.Private[tuple[int, ...]]

    @strawberry.field(description="Who \"any technician\" would get")
    async def technician(self, info: Info) -> Technician:
        return await _technician(info, self.technician_ids[0])

    @strawberry.field
    async def technicians(self, info: Info) -> list[Technician]:
        rows = await info.context.loaders.staff.load_many(list(self.technician_ids))
        return [Technician.of(r, r.brand_id) for r in rows if r is not None]


def _slots(found) -> list[Slot]:
    return [Slot(start=s.start.astimezone(found.tz), end=s.end.astimezone(found.tz), technician_ids=s.technician_ids) for s in found.slots]


@strawberry.type
class Booking(Node):
    status: BookingStatusEnum
    start: dt.datetime
    end: dt.datetime
    date: dt.date
    source: str
    note: str | None
    cancel_kind: CancelKindEnum | None
    cancel_reason: str | None
    row: strawberry.Private[object]

    @strawberry.field
    async def store(self, info: Info) -> Store:
        return await _store(info, self.row.store_id)

    @strawberry.field
    async def member(self, info: Info) -> Member:
        return Member.of(await info.context.loaders.member.load(self.row.member_id), info)

    @strawberry.field
    async def service(self, info: Info) -> Service:
        return await _service(info, self.row.service_id)

    @strawberry.field
    async def technician(self, info: Info) -> Technician:
        return await _technician(info, self.row.technician_id)

    @strawberry.field
    async def resource(self, info: Info) -> Resource | None:
        return Resource.of(await area_loaders(info.context).resource.load(self.row.resource_id)) if self.row.resource_id else None

    @strawberry.field(description="The order its check-in opened")
    async def order(self, info: Info) -> Order | None:
        return Order.of(await info.context.loaders.order.load(self.row.order_id)) if self.row.order_id else None

    @staticmethod
    async def of(info: Info, row) -> "Booking":
        tz = await area_loaders(info.context).timezone(row.store_id, row.brand_id)
        return Booking(id=to_global_id("Booking", row.id), status=BookingStatus(row.status), start=row.start_at.astimezone(tz), end=row.end_at.astimezone(tz),
                       date=dt.date.fromisoformat(row.local_date), source=row.source, note=row.note,
                       cancel_kind=CancelKind(row.cancel_kind) if row.cancel_kind else None, cancel_reason=row.cancel_reason, row=row)


@strawberry.type
class WaitlistEntry(Node):
    status: str
    date: dt.date
    row: strawberry.Private[object]

    @strawberry.field
    async def member(self, info: Info) -> Member:
        return Member.of(await info.context.loaders.member.load(self.row.member_id), info)

    @strawberry.field
    async def service(self, info: Info) -> Service:
        return await _service(info, self.row.service_id)

    @strawberry.field
    async def technician(self, info: Info) -> Technician | None:
        return await _technician(info, self.row.technician_id)

    @staticmethod
    def of(row) -> "WaitlistEntry":
        return WaitlistEntry(id=to_global_id("WaitlistEntry", row.id), status=row.status, date=dt.date.fromisoformat(row.local_date), row=row)


@strawberry.type
class Review(Node):
    rating: int
    tags: list[str]
    comment: str | None
    recommend: bool
    hidden: bool
    hidden_reason: str | None
    reply: str | None
    replied_at: dt.datetime | None
    created_at: dt.datetime
    row: strawberry.Private[object]

    @strawberry.field
    async def technician(self, info: Info) -> Technician:
        return await _technician(info, self.row.technician_id)

    @strawberry.field
    async def store(self, info: Info) -> Store:
        return await _store(info, self.row.store_id)

    @strawberry.field
    def order_line_id(self) -> strawberry.ID:
        return to_global_id("OrderLine", self.row.order_line_id)

    @staticmethod
    def of(row) -> "Review":
        return Review(id=to_global_id("Review", row.id), rating=row.rating, tags=json.loads(row.tags), comment=row.comment, recommend=row.recommend,
                      hidden=row.hidden, hidden_reason=row.hidden_reason, reply=row.reply, replied_at=row.replied_at, created_at=row.created_at, row=row)


@strawberry.type(description="服务质量排名: one technician over the period")
class LeaderboardEntry:
    rating: Decimal = strawberry.field(description="Bayesian average of the period's counted reviews (prior: 5 reviews at the brand's mean)")
    review_count: int
    recommendations: int
    services_count: int = strawberry.field(description="Services performed: paid, not refunded")
    repeat_rate: Decimal = strawberry.field(description="Share (0-1) of the period's customers who came back to this technician within 90 days")
    technician_id: strawberry.Private[int]

    @strawberry.field
    async def technician(self, info: Info) -> Technician:
        return await _technician(info, self.technician_id)


@strawberry.type
class BookingSettings:
    slot_minutes: int = strawberry.field(description="The grid of starts")
    notice_minutes: int = strawberry.field(description="No start within this many minutes from now")
    customer_cancel_hours: int = strawberry.field(description="Customers cancel themselves up to this many hours before")
    confirm_after_no_shows: int | None = strawberry.field(description="A customer with this many no-shows books PENDING until the desk confirms")
    review_reward_points: int = strawberry.field(description="Points for recommending a technician, once per served line")

    @staticmethod
    def of(s) -> "BookingSettings":
        return BookingSettings(slot_minutes=s.slot_minutes, notice_minutes=s.notice_minutes, customer_cancel_hours=s.customer_cancel_hours,
                               confirm_after_no_shows=s.confirm_after_no_shows, review_reward_points=s.review_reward_points)


# ---------------------------------------------------------------------------------------------
# Staff inputs and payloads


@strawberry.input
class CreateResourceInput:
    store_id: strawberry.ID
    name: str
    kind: ResourceKindEnum


@strawberry.type
class CreateResourcePayload:
    resource: Resource | None
    errors: list[UserError]


@strawberry.input
class UpdateServiceInput:
    service_id: strawberry.ID
    buffer_minutes: int | None = None
    resource_kind: ResourceKindEnum | None = None
    clear_resource_kind: bool = False
    technician_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Replaces the skilled technicians; [] means everyone")


@strawberry.type
class UpdateServicePayload:
    service: Service | None
    errors: list[UserError]


@strawberry.input
class ShiftInput:
    date: dt.date
    start: str = strawberry.field(description='Store-local wall-clock time, "10:00"')
    end: str = strawberry.field(description='"18:00"; "24:00" is midnight')


@strawberry.input
class SetShiftsInput:
    technician_id: strawberry.ID
    store_id: strawberry.ID
    shifts: list[ShiftInput]
    clear_dates: list[dt.date] = strawberry.field(default_factory=list, description="Dates whose shifts are removed (a day off)")


@strawberry.type
class SetShiftsPayload:
    shifts: list[Shift]
    conflicting_bookings: list[Booking] = strawberry.field(description="With SHIFT_HAS_BOOKINGS: the bookings the change would strand")
    errors: list[UserError]


@strawberry.input
class CreateBookingInput:
    store_id: strawberry.ID
    member_id: strawberry.ID
    service_id: strawberry.ID
    start: dt.datetime
    idempotency_key: str
    technician_id: strawberry.ID | None = strawberry.field(default=None, description="None: the least-booked free technician")
    note: str | None = None


@strawberry.input
class RescheduleBookingInput:
    booking_id: strawberry.ID
    start: dt.datetime
    technician_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.input
class CancelBookingInput:
    booking_id: strawberry.ID
    reason: str
    by: CancelKindEnum | None = strawberry.field(default=None, description="Who asked: CUSTOMER (LATE when past the brand's time) or STORE (default)")


@strawberry.input
class BookingInput:
    booking_id: strawberry.ID


@strawberry.type
class BookingPayload:
    booking: Booking | None
    order: Order | None
    errors: list[UserError]


@strawberry.input
class ReplyToReviewInput:
    review_id: strawberry.ID
    reply: str


@strawberry.input
class HideReviewInput:
    review_id: strawberry.ID
    reason: str


@strawberry.type
class ReviewPayload:
    review: Review | None
    errors: list[UserError]


@strawberry.input
class UpdateBookingSettingsInput:
    slot_minutes: int | None = None
    notice_minutes: int | None = None
    customer_cancel_hours: int | None = None
    confirm_after_no_shows: int | None = None
    no_confirmation: bool = strawberry.field(default=False, description="Turn staff confirmation for no-show customers off")
    review_reward_points: int | None = None


@strawberry.type
class BookingSettingsPayload:
    settings: BookingSettings | None
    errors: list[UserError]


async def _booking_payload(info: Info, outcome, order=None) -> BookingPayload:
    booking = await Booking.of(info, outcome.value) if outcome.ok else None
    return BookingPayload(booking=booking, order=order, errors=user_errors(outcome.errors, info.context.lang))


FromArg = Annotated[dt.date, strawberry.argument(name="from")]


@strawberry.type
class BookingQuery:
    @strawberry.field
    async def resources(self, info: Info, store_id: strawberry.ID) -> list[Resource]:
        return [Resource.of(r) for r in await resolvers.resources(info.context, store_id=store_id)]

    @strawberry.field(description="Shifts of a store from `from` to `to` (a technician sees their own)")
    async def shifts(self, info: Info, store_id: strawberry.ID, from_: FromArg, to: dt.date, technician_id: strawberry.ID | None = None) -> list[Shift]:
        return [Shift.of(r) for r in await resolvers.shifts(info.context, store_id=store_id, from_=from_, to=to, technician_id=technician_id)]

    @strawberry.field(description="Free starts of a store-local day")
    async def availability(self, info: Info, store_id: strawberry.ID, service_id: strawberry.ID, date: dt.date,
                           technician_id: strawberry.ID | None = None) -> list[Slot]:
        return _slots(await resolvers.availability(info.context, store_id=store_id, service_id=service_id, day=date, technician_id=technician_id))

    @strawberry.field(description="A store-local day's bookings (a technician sees their own)")
    async def bookings(self, info: Info, store_id: strawberry.ID, date: dt.date, technician_id: strawberry.ID | None = None) -> list[Booking]:
        return [await Booking.of(info, r) for r in await resolvers.bookings(info.context, store_id=store_id, day=date, technician_id=technician_id)]

    @strawberry.field
    async def waitlist(self, info: Info, store_id: strawberry.ID, date: dt.date) -> list[WaitlistEntry]:
        return [WaitlistEntry.of(r) for r in await resolvers.waitlist(info.context, store_id=store_id, day=date)]

    @strawberry.field(description="Reviews, newest first (a technician sees their own; hidden ones too, marked)")
    async def reviews(self, info: Info, store_id: strawberry.ID | None = None, technician_id: strawberry.ID | None = None) -> list[Review]:
        return [Review.of(r) for r in await resolvers.reviews(info.context, store_id=store_id, technician_id=technician_id)]

    @strawberry.field(description="服务质量排名 over store-local dates `from`..`to`, per store or the whole brand")
    async def technician_leaderboard(self, info: Info, from_: FromArg, to: dt.date, store_id: strawberry.ID | None = None) -> list[LeaderboardEntry]:
        return [
            LeaderboardEntry(rating=s.rating, review_count=s.review_count, recommendations=s.recommendations, services_count=s.services_count,
                             repeat_rate=s.repeat_rate, technician_id=s.technician_id)
            for s in await resolvers.leaderboard(info.context, store_id=store_id, from_=from_, to=to)
        ]

    @strawberry.field
    async def booking_settings(self, info: Info) -> BookingSettings:
        return BookingSettings.of(await resolvers.settings(info.context))


@strawberry.type
class BookingMutation:
    @strawberry.mutation
    async def create_resource(self, info: Info, input: CreateResourceInput) -> CreateResourcePayload:
        outcome = await resolvers.create_resource(info.context, store_id=input.store_id, name=input.name, kind=input.kind)
        return CreateResourcePayload(resource=Resource.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="A service's booking rules: buffer, resource kind, skilled technicians")
    async def update_service(self, info: Info, input: UpdateServiceInput) -> UpdateServicePayload:
        outcome = await resolvers.update_service(
            info.context, service_id=input.service_id, buffer_minutes=input.buffer_minutes, resource_kind=input.resource_kind,
            clear_resource_kind=input.clear_resource_kind, technician_ids=input.technician_ids,
        )
        return UpdateServicePayload(service=Service.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="排班: replaces the technician's shifts on each date named")
    async def set_shifts(self, info: Info, input: SetShiftsInput) -> SetShiftsPayload:
        outcome = await resolvers.set_shifts(info.context, technician_id=input.technician_id, store_id=input.store_id,
                                             shifts=[(s.date, s.start, s.end) for s in input.shifts], clear_dates=input.clear_dates)
        value = outcome.value
        return SetShiftsPayload(
            shifts=[Shift.of(r) for r in value.rows] if value else [],
            conflicting_bookings=[await Booking.of(info, b) for b in value.stranded] if value else [],
            errors=user_errors(outcome.errors, info.context.lang),
        )

    @strawberry.mutation
    async def create_booking(self, info: Info, input: CreateBookingInput) -> BookingPayload:
        outcome = await resolvers.create_booking(info.context, store_id=input.store_id, member_id=input.member_id, service_id=input.service_id,
                                                 technician_id=input.technician_id, start=input.start, note=input.note, idempotency_key=input.idempotency_key)
        return await _booking_payload(info, outcome)

    @strawberry.mutation(description="Move a booking (same id); atomic: it holds either the old slot or the new one")
    async def reschedule_booking(self, info: Info, input: RescheduleBookingInput) -> BookingPayload:
        outcome = await resolvers.reschedule_booking(info.context, booking_id=input.booking_id, start=input.start, technician_id=input.technician_id,
                                                     idempotency_key=input.idempotency_key)
        return await _booking_payload(info, outcome)

    @strawberry.mutation
    async def cancel_booking(self, info: Info, input: CancelBookingInput) -> BookingPayload:
        return await _booking_payload(info, await resolvers.cancel_booking(info.context, booking_id=input.booking_id, reason=input.reason, by=input.by))

    @strawberry.mutation(description="Confirm a PENDING booking")
    async def confirm_booking(self, info: Info, input: BookingInput) -> BookingPayload:
        return await _booking_payload(info, await resolvers.move_booking(info.context, "confirmBooking", booking_id=input.booking_id))

    @strawberry.mutation(description="爽约: once the start has passed")
    async def mark_no_show(self, info: Info, input: BookingInput) -> BookingPayload:
        return await _booking_payload(info, await resolvers.move_booking(info.context, "markNoShow", booking_id=input.booking_id))

    @strawberry.mutation
    async def complete_booking(self, info: Info, input: BookingInput) -> BookingPayload:
        return await _booking_payload(info, await resolvers.move_booking(info.context, "completeBooking", booking_id=input.booking_id))

    @strawberry.mutation(description="到店签到: opens the booking's order (the same one if checked in before), from the booking's day")
    async def check_in_booking(self, info: Info, input: BookingInput) -> BookingPayload:
        outcome = await resolvers.check_in_booking(info.context, booking_id=input.booking_id)
        if not outcome.ok:
            return BookingPayload(booking=None, order=None, errors=user_errors(outcome.errors, info.context.lang))
        return BookingPayload(booking=await Booking.of(info, outcome.value.booking), order=Order.of(outcome.value.order), errors=[])

    @strawberry.mutation
    async def reply_to_review(self, info: Info, input: ReplyToReviewInput) -> ReviewPayload:
        outcome = await resolvers.review_action(info.context, "replyToReview", review_id=input.review_id, text=input.reply)
        return ReviewPayload(review=Review.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="Hide an abusive review: kept for the audit, out of the aggregates and customers' sight")
    async def hide_review(self, info: Info, input: HideReviewInput) -> ReviewPayload:
        outcome = await resolvers.review_action(info.context, "hideReview", review_id=input.review_id, text=input.reason)
        return ReviewPayload(review=Review.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def update_booking_settings(self, info: Info, input: UpdateBookingSettingsInput) -> BookingSettingsPayload:
        changes = {name: getattr(input, name) for name in resolvers.SETTING_NAMES}
        outcome = await resolvers.update_settings(info.context, changes=changes, clear_confirm=input.no_confirmation)
        return BookingSettingsPayload(settings=BookingSettings.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


# ---------------------------------------------------------------------------------------------
# The customer's side (/mp/graphql)


@strawberry.type
class MyBooking:
    id: strawberry.ID
    status: BookingStatusEnum
    start: dt.datetime
    end: dt.datetime
    row: strawberry.Private[object]

    @strawberry.field
    async def store(self, info: Info) -> Store:
        return await _store(info, self.row.store_id)

    @strawberry.field
    async def service(self, info: Info) -> Service:
        return await _service(info, self.row.service_id)

    @strawberry.field
    async def technician(self, info: Info) -> Technician:
        return await _technician(info, self.row.technician_id)

    @staticmethod
    async def of(info: Info, row) -> "MyBooking":
        tz = await area_loaders(info.context).timezone(row.store_id, row.brand_id)
        return MyBooking(id=to_global_id("Booking", row.id), status=BookingStatus(row.status), start=row.start_at.astimezone(tz),
                         end=row.end_at.astimezone(tz), row=row)


@strawberry.type
class MyOrderLine:
    id: strawberry.ID
    name: str
    quantity: int
    refunded_quantity: int
    reviewable: bool = strawberry.field(description="Whether reviewTechnician takes this line now")
    row: strawberry.Private[object]

    @strawberry.field
    async def service(self, info: Info) -> Service | None:
        return await _service(info, self.row.item_id) if self.row.kind == "SERVICE" else None

    @strawberry.field
    async def technician(self, info: Info) -> Technician | None:
        return await _technician(info, self.row.technician_id)


@strawberry.type
class MyOrder:
    id: strawberry.ID
    status: str
    total: Fen
    refunded: Fen
    paid_at: dt.datetime | None
    lines: list[MyOrderLine]


async def my_bookings(info: Info, member_id: int) -> list[MyBooking]:
    return [await MyBooking.of(info, r) for r in await resolvers.my_bookings(info.context, member_id)]


async def my_orders(info: Info, member_id: int) -> list[MyOrder]:
    return [
        MyOrder(id=to_global_id("Order", r.order.id), status=r.order.status, total=r.order.total, refunded=r.order.refunded, paid_at=r.order.paid_at,
                lines=[MyOrderLine(id=to_global_id("OrderLine", l.id), name=l.name, quantity=l.quantity, refunded_quantity=l.refunded_quantity,
                                   reviewable=ok, row=l) for l, ok in r.lines])
        for r in await resolvers.my_orders(info.context, member_id)
    ]


@strawberry.type
class MyReview:
    id: strawberry.ID
    rating: int
    tags: list[str]
    comment: str | None
    recommend: bool


@strawberry.input
class MpCreateBookingInput:
    store_id: strawberry.ID
    service_id: strawberry.ID
    start: dt.datetime
    idempotency_key: str
    technician_id: strawberry.ID | None = None
    note: str | None = None


@strawberry.input
class MpCancelBookingInput:
    booking_id: strawberry.ID
    reason: str


@strawberry.type
class MpBookingPayload:
    booking: MyBooking | None
    errors: list[UserError]


@strawberry.input
class JoinWaitlistInput:
    store_id: strawberry.ID
    service_id: strawberry.ID
    date: dt.date
    technician_id: strawberry.ID | None = None


@strawberry.type
class JoinWaitlistPayload:
    entry_id: strawberry.ID | None
    errors: list[UserError]


@strawberry.input
class ReviewTechnicianInput:
    order_line_id: strawberry.ID
    rating: int
    tags: list[str] = strawberry.field(default_factory=list)
    comment: str | None = None
    recommend: bool = False


@strawberry.type
class ReviewTechnicianPayload:
    review: MyReview | None
    errors: list[UserError]


async def _mp_booking(info: Info, outcome) -> MpBookingPayload:
    return MpBookingPayload(booking=await MyBooking.of(info, outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


@strawberry.type
class MpBookingQuery:
    @strawberry.field(description="The brand's services (storeId checks the store)")
    async def services(self, info: Info, store_id: strawberry.ID | None = None) -> list[Service]:
        return [Service.of(r) for r in await resolvers.mp_services(info.context, store_id=store_id)]

    @strawberry.field(description="A store's technicians with their ratings")
    async def technicians(self, info: Info, store_id: strawberry.ID) -> list[Technician]:
        customer = await info.context.customer()
        return [Technician.of(r, customer.brand_id) for r in await resolvers.mp_technicians(info.context, store_id=store_id)]

    @strawberry.field
    async def availability(self, info: Info, store_id: strawberry.ID, service_id: strawberry.ID, date: dt.date,
                           technician_id: strawberry.ID | None = None) -> list[Slot]:
        return _slots(await resolvers.mp_availability(info.context, store_id=store_id, service_id=service_id, day=date, technician_id=technician_id))


@strawberry.type
class MpBookingMutation:
    @strawberry.mutation
    async def create_booking(self, info: Info, input: MpCreateBookingInput) -> MpBookingPayload:
        return await _mp_booking(info, await resolvers.mp_create_booking(
            info.context, store_id=input.store_id, service_id=input.service_id, technician_id=input.technician_id, start=input.start,
            note=input.note, idempotency_key=input.idempotency_key))

    @strawberry.mutation
    async def cancel_booking(self, info: Info, input: MpCancelBookingInput) -> MpBookingPayload:
        return await _mp_booking(info, await resolvers.mp_cancel_booking(info.context, booking_id=input.booking_id, reason=input.reason))

    @strawberry.mutation(description="候补: be offered a slot of that day when one frees up")
    async def join_waitlist(self, info: Info, input: JoinWaitlistInput) -> JoinWaitlistPayload:
        outcome = await resolvers.mp_join_waitlist(info.context, store_id=input.store_id, service_id=input.service_id, day=input.date,
                                                   technician_id=input.technician_id)
        return JoinWaitlistPayload(entry_id=to_global_id("WaitlistEntry", outcome.value) if outcome.ok else None,
                                   errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="Rate the technician of a served line, once, within 30 days")
    async def review_technician(self, info: Info, input: ReviewTechnicianInput) -> ReviewTechnicianPayload:
        outcome = await resolvers.mp_review(info.context, line_id=input.order_line_id, rating=input.rating, tags=input.tags, comment=input.comment,
                                            recommend=input.recommend)
        review = None
        if outcome.ok:
            r = outcome.value
            review = MyReview(id=to_global_id("Review", r.id), rating=r.rating, tags=json.loads(r.tags), comment=r.comment, recommend=r.recommend)
        return ReviewTechnicianPayload(review=review, errors=user_errors(outcome.errors, info.context.lang))
