"""A booking's life after it is made (times injected through the domain where the clock matters):
check-in opens one order, pay, the served customer reviews once, the leaderboard and ratings; no-show
only after the start; cancellation times; staff confirmation after no-shows; the waitlist offer;
count cards that require a booking."""

import datetime as dt
import json
import uuid

from sqlalchemy import select

from domain.bookings import bookings as booking_service
from domain.bookings.records import bookings
from domain.bookings.records import CancelKind
from domain.bookings.waitlist import waitlist_entries
from domain.db import read_transaction, write_transaction
from domain.errors import DomainError
from domain.members.points import points_entries
from domain.outbox import outbox_events
from resolvers.ids import to_global_id
from tests.bookings.support import SH, actor_of, at, book, customer_token, hire_technician, local_day, pk, set_shifts
from tests.support import GraphQLClient, assert_ledger_ok, checkout, open_order

MY_ORDERS = "{ me { points orders { id status total lines { id name reviewable service { name } technician { id name } } } } }"
REVIEW = "mutation($i: ReviewTechnicianInput!) { reviewTechnician(input: $i) { review { id rating tags recommend } errors { code field } } }"
BOARD = """query($s: ID, $f: Date!, $t: Date!) { technicianLeaderboard(storeId: $s, from: $f, to: $t) {
  technician { id name } rating reviewCount recommendations servicesCount repeatRate } }"""


def local(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=SH)


async def domain(engine, username: str, step, **kwargs):
    actor = await actor_of(engine, username)
    try:
        async with write_transaction(engine) as db:
            return await step(db, actor, **kwargs)
    except DomainError as error:
        return error.code


def mp(client) -> GraphQLClient:
    return GraphQLClient(client.http, path="/mp/graphql")


async def test_check_in_pay_review_once_and_the_leaderboard(demo, engine, client, settings):
    day = local_day(1)
    amei, xiaoli = demo.staff["technician"], await hire_technician(demo, "xiaoli", "小李")
    await set_shifts(demo, amei, day, ("10:00", "14:00"))
    member = (await demo.register(name="评价人", as_="owner"))["id"]
    made = await book(demo, member, "洗剪吹", at(day, 10), amei)
    bid = pk(made["booking"]["id"])

    today = dt.datetime.now(SH)
    assert await domain(engine, "reception", booking_service.check_in, booking_id=bid, now=local(day, 0, 0) - dt.timedelta(minutes=1)) == "CHECK_IN_TOO_EARLY"
    first = await domain(engine, "reception", booking_service.check_in, booking_id=bid, now=local(day, 8, 30))
    again = await domain(engine, "reception", booking_service.check_in, booking_id=bid, now=local(day, 9))
    assert first == again and first[0] == bid
    order_gid = to_global_id("Order", first[1])
    order = await demo.gql("query($id: ID!) { order(id: $id) { status total member { id } lines { name quantity technician { id } } } }", {"id": order_gid}, as_="reception")
    assert order["order"] == {"status": "OPEN", "total": 8800, "member": {"id": member}, "lines": [{"name": "洗剪吹", "quantity": 1, "technician": {"id": amei}}]}
    checked = await demo.gql("mutation($i: BookingInput!) { checkInBooking(input: $i) { booking { status } order { id } errors { code } } }",
                             {"i": {"bookingId": made["booking"]["id"]}}, as_="reception")
    assert checked["checkInBooking"] == {"booking": {"status": "CHECKED_IN"}, "order": {"id": order_gid}, "errors": []}
    paid = await checkout(demo, order_gid, [{"method": "CASH"}])
    assert paid["errors"] == [] and paid["order"]["status"] == "PAID"
    done = await demo.gql("mutation($i: BookingInput!) { completeBooking(input: $i) { booking { status } errors { code } } }", {"i": {"bookingId": made["booking"]["id"]}}, as_="reception")
    assert done["completeBooking"] == {"booking": {"status": "COMPLETED"}, "errors": []}

    # Another member served by 小李 (a plain desk order, no booking), rated 3.
    other = (await demo.register(name="路人", as_="owner"))["id"]
    walk_in = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"], "technicianId": xiaoli}], member_id=other)
    assert (await checkout(demo, walk_in["id"], [{"method": "CASH"}]))["errors"] == []

    customer, stranger = mp(client), await customer_token(engine, settings, other)
    token = await customer_token(engine, settings, member)
    mine = (await customer(MY_ORDERS, token=token))["me"]
    (line,) = mine["orders"][0]["lines"]
    assert (line["name"], line["reviewable"], line["service"], line["technician"]["id"]) == ("洗剪吹", True, {"name": "洗剪吹"}, amei)
    points_before = mine["points"]
    # Only the member who was served may review the line.
    theirs = await customer(REVIEW, {"i": {"orderLineId": line["id"], "rating": 1}}, token=stranger)
    assert theirs["reviewTechnician"] == {"review": None, "errors": [{"code": "NOT_FOUND", "field": "orderLineId"}]}
    bad = await customer(REVIEW, {"i": {"orderLineId": line["id"], "rating": 6}}, token=token)
    assert bad["reviewTechnician"]["errors"] == [{"code": "INVALID_VALUE", "field": "rating"}]
    reviewed = await customer(REVIEW, {"i": {"orderLineId": line["id"], "rating": 5, "tags": ["手法好", "准时"], "comment": "很舒服", "recommend": True}}, token=token)
    assert reviewed["reviewTechnician"]["errors"] == [] and reviewed["reviewTechnician"]["review"]["tags"] == ["准时", "手法好"]
    twice = await customer(REVIEW, {"i": {"orderLineId": line["id"], "rating": 1, "recommend": True}}, token=token)
    assert twice["reviewTechnician"]["errors"] == [{"code": "ALREADY_REVIEWED", "field": "orderLineId"}]
    after = (await customer(MY_ORDERS, token=token))["me"]
    assert after["points"] == points_before + 10 and after["orders"][0]["lines"][0]["reviewable"] is False
    other_line = (await customer(MY_ORDERS, token=stranger))["me"]["orders"][0]["lines"][0]["id"]
    assert (await customer(REVIEW, {"i": {"orderLineId": other_line, "rating": 3}}, token=stranger))["reviewTechnician"]["errors"] == []
    async with read_transaction(engine) as db:
        rewards = [(r.kind, r.delta, r.reference) for r in await db.execute(select(points_entries).where(points_entries.c.kind == "REVIEW_REWARD"))]
    assert rewards == [("REVIEW_REWARD", 10, f"review:{pk(line['id'])}")]

    # Brand mean m = (5 + 3) / 2 = 4, C = 5: 阿美 (20 + 5) / 6 = 4.17, 小李 (20 + 3) / 6 = 3.83.
    period = {"s": demo.jingan, "f": today.date().isoformat(), "t": day.isoformat()}
    board = (await demo.gql(BOARD, period, as_="manager"))["technicianLeaderboard"]
    assert [(b["technician"]["name"], b["rating"], b["reviewCount"], b["recommendations"], b["servicesCount"], b["repeatRate"]) for b in board] == [
        ("阿美", "4.17", 1, 1, 1, "0.0000"), ("小李", "3.83", 1, 0, 1, "0.0000"),
    ]
    techs = (await customer("query($s: ID!) { technicians(storeId: $s) { id name rating reviewCount } }", {"s": demo.jingan}, token=token))["technicians"]
    assert [(t["name"], t["rating"], t["reviewCount"]) for t in techs] == [("阿美", "4.17", 1), ("小李", "3.83", 1)]
    own = await demo.gql("{ reviews { rating technician { id } } }", as_="technician")
    assert own["reviews"] == [{"rating": 5, "technician": {"id": amei}}]

    # A refunded line's review leaves the aggregates: m = 3, and both are 3.00.
    refunded = await demo.gql("mutation($i: RefundOrderInput!) { refundOrder(input: $i) { errors { code } } }",
                              {"i": {"orderId": order_gid, "reason": "不满意", "idempotencyKey": uuid.uuid4().hex}}, as_="manager")
    assert refunded["refundOrder"]["errors"] == []
    board = (await demo.gql(BOARD, period, as_="owner"))["technicianLeaderboard"]
    assert [(b["technician"]["name"], b["rating"], b["reviewCount"], b["servicesCount"]) for b in board] == [("小李", "3.00", 1, 1), ("阿美", "3.00", 0, 0)]
    await assert_ledger_ok(engine)


async def test_repeat_rate_counts_customers_who_came_back_within_ninety_days(demo, engine):
    amei = demo.staff["technician"]
    loyal, once = (await demo.register(name="回头客", as_="owner"))["id"], (await demo.register(name="一次客", as_="owner"))["id"]
    for member in (loyal, loyal, once):
        order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"], "technicianId": amei}], member_id=member)
        assert (await checkout(demo, order["id"], [{"method": "CASH"}]))["errors"] == []
    today = dt.datetime.now(SH).date().isoformat()
    board = (await demo.gql(BOARD, {"s": demo.jingan, "f": today, "t": today}, as_="owner"))["technicianLeaderboard"]
    assert [(b["technician"]["name"], b["servicesCount"], b["repeatRate"], b["rating"], b["reviewCount"]) for b in board] == [("阿美", 3, "0.5000", "4.00", 0)]


async def test_no_show_cancellation_times_confirmation_and_the_waitlist(demo, engine, client, settings):
    day = local_day(1)
    amei = demo.staff["technician"]
    await set_shifts(demo, amei, day, ("10:00", "14:00"))
    member = (await demo.register(name="爽约客", as_="owner"))["id"]
    made = await book(demo, member, "洗剪吹", at(day, 10), amei)
    bid = pk(made["booking"]["id"])
    assert await domain(engine, "reception", booking_service.mark_no_show, booking_id=bid, now=local(day, 9, 59)) == "NO_SHOW_TOO_EARLY"
    assert await domain(engine, "reception", booking_service.mark_no_show, booking_id=bid, now=local(day, 10, 1)) == bid
    assert await domain(engine, "reception", booking_service.mark_no_show, booking_id=bid, now=local(day, 10, 2)) == "BOOKING_STATUS"

    # After one no-show the brand wants the desk to confirm this customer's bookings.
    changed = await demo.gql("mutation($i: UpdateBookingSettingsInput!) { updateBookingSettings(input: $i) { settings { confirmAfterNoShows slotMinutes noticeMinutes reviewRewardPoints } errors { code } } }",
                             {"i": {"confirmAfterNoShows": 1}}, as_="owner")
    assert changed["updateBookingSettings"] == {"settings": {"confirmAfterNoShows": 1, "slotMinutes": 15, "noticeMinutes": 60, "reviewRewardPoints": 10}, "errors": []}
    customer, token = mp(client), await customer_token(engine, settings, member)
    create = "mutation($i: MpCreateBookingInput!) { createBooking(input: $i) { booking { id status start technician { name } } errors { code field } } }"
    key = uuid.uuid4().hex
    request = {"storeId": demo.jingan, "serviceId": demo.services["洗剪吹"]["id"], "start": at(day, 11), "idempotencyKey": key}
    mine = (await customer(create, {"i": request}, token=token))["createBooking"]
    assert mine["errors"] == [] and (mine["booking"]["status"], mine["booking"]["start"], mine["booking"]["technician"]) == ("PENDING", at(day, 11), {"name": "阿美"})
    assert (await customer(create, {"i": request}, token=token))["createBooking"] == mine  # replayed by its key
    off_grid = (await customer(create, {"i": {**request, "start": at(day, 11, 5), "idempotencyKey": uuid.uuid4().hex}}, token=token))["createBooking"]
    assert off_grid["errors"] == [{"code": "INVALID_VALUE", "field": "start"}]
    mine_id = pk(mine["booking"]["id"])
    async with read_transaction(engine) as db:
        kinds = [k for k in (await db.execute(select(outbox_events.c.dedupe_key))).scalars() if k.startswith(f"booking:{mine_id}:")]
    assert kinds == []  # nothing to tell the customer until the desk confirms
    confirmed = await demo.gql("mutation($i: BookingInput!) { confirmBooking(input: $i) { booking { status } errors { code } } }",
                               {"i": {"bookingId": mine["booking"]["id"]}}, as_="reception")
    assert confirmed["confirmBooking"] == {"booking": {"status": "CONFIRMED"}, "errors": []}
    listed = (await customer("{ me { bookings { id status start technician { name } } } }", token=token))["me"]["bookings"]
    assert [(b["status"], b["start"]) for b in listed] == [("CONFIRMED", at(day, 11)), ("NO_SHOW", at(day, 10))]

    # Someone waits for that day; a customer may not cancel within 2 hours, the desk may (LATE).
    waiter = (await demo.register(name="候补客", as_="owner"))["id"]
    waiter_token = await customer_token(engine, settings, waiter)
    joined = await customer("mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { entryId errors { code } } }",
                            {"i": {"storeId": demo.jingan, "serviceId": demo.services["洗剪吹"]["id"], "date": day.isoformat()}}, token=waiter_token)
    assert joined["joinWaitlist"]["errors"] == []
    late = local(day, 9, 30)
    assert await domain(engine, "owner", booking_service.cancel, booking_id=mine_id, reason="来不了", kind=CancelKind.CUSTOMER,
                        member_id=pk(member), now=late) == "CANCEL_TOO_LATE"
    assert await domain(engine, "reception", booking_service.cancel, booking_id=mine_id, reason="顾客电话取消", kind=CancelKind.CUSTOMER, now=late) == mine_id
    async with read_transaction(engine) as db:
        row = (await db.execute(select(bookings).where(bookings.c.id == mine_id))).one()
        entry = (await db.execute(select(waitlist_entries))).one()
        offers = [(r.member_id, json.loads(r.payload)) for r in await db.execute(select(outbox_events).where(outbox_events.c.kind == "waitlist.offered"))]
        reminders = [k for k in (await db.execute(select(outbox_events.c.dedupe_key))).scalars() if k.startswith(f"booking:{mine_id}:remind")]
    assert (row.status, row.cancel_kind, row.holds_slot) == ("CANCELLED", "LATE", False)
    assert (entry.status, entry.offered_booking_id) == ("OFFERED", mine_id)
    assert len(offers) == 1 and offers[0][0] == pk(waiter)
    assert (offers[0][1]["start"], offers[0][1]["service"], offers[0][1]["store"]) == (at(day, 11), "洗剪吹", "静安店")
    assert reminders == []

    # A customer's own cancellation, in time, through the mini-program.
    early = (await customer(create, {"i": {**request, "start": at(day, 12), "idempotencyKey": uuid.uuid4().hex}}, token=waiter_token))["createBooking"]
    assert early["errors"] == [] and early["booking"]["status"] == "CONFIRMED"
    cancel = "mutation($i: MpCancelBookingInput!) { cancelBooking(input: $i) { booking { status } errors { code } } }"
    assert (await customer(cancel, {"i": {"bookingId": early["booking"]["id"], "reason": "改天"}}, token=token))["cancelBooking"]["errors"] == [{"code": "NOT_FOUND"}]
    assert (await customer(cancel, {"i": {"bookingId": early["booking"]["id"], "reason": "改天"}}, token=waiter_token))["cancelBooking"] == {"booking": {"status": "CANCELLED"}, "errors": []}


async def test_a_count_card_that_requires_a_booking_pays_only_a_booked_visit(demo, engine):
    day = local_day(1)
    amei = demo.staff["technician"]
    await set_shifts(demo, amei, day, ("10:00", "14:00"))
    created = await demo.gql("mutation($i: CreateCountCardProductInput!) { createCountCardProduct(input: $i) { product { id requiresBooking } errors { code } } }",
                             {"i": {"name": "洗剪吹预约5次卡", "serviceIds": [demo.services["洗剪吹"]["id"]], "price": 30_000, "validDays": 90, "sessions": 5,
                                    "requiresBooking": True}}, as_="owner")
    product = created["createCountCardProduct"]["product"]
    assert product["requiresBooking"] is True
    member = (await demo.register(name="次卡客", as_="owner"))["id"]
    bought = await open_order(demo, [{"countCardProductId": product["id"]}], member_id=member)
    assert (await checkout(demo, bought["id"], [{"method": "CASH"}]))["errors"] == []
    card = (await demo.gql("query($id: ID!) { member(id: $id) { countCards { id remaining } } }", {"id": member}, as_="owner"))["member"]["countCards"][0]

    walk_in = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"], "technicianId": amei}], member_id=member)
    refused = await checkout(demo, walk_in["id"], [{"method": "COUNT_CARD", "countCardId": card["id"]}])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("COUNT_CARD_REQUIRES_BOOKING", "payments.0.countCardId")]

    made = await book(demo, member, "洗剪吹", at(day, 10), amei)
    _bid, order_id = await domain(engine, "reception", booking_service.check_in, booking_id=pk(made["booking"]["id"]), now=local(day, 9))
    paid = await checkout(demo, to_global_id("Order", order_id), [{"method": "COUNT_CARD", "countCardId": card["id"]}])
    assert paid["errors"] == [] and paid["order"]["status"] == "PAID"
    left = (await demo.gql("query($id: ID!) { member(id: $id) { countCards { remaining } } }", {"id": member}, as_="owner"))["member"]["countCards"]
    assert left == [{"remaining": 4}]
    await assert_ledger_ok(engine)
