"""The time-bound reminders and the other areas' events: a count card about to expire, an
on-account debt falling due (and not once it is repaid), a booking confirmed, a coupon expiring."""

import datetime as dt
import uuid

from domain import outbox
from domain.db import write_transaction
from resolvers.ids import parse_global_id
from tests.notifications.test_sending import NOON, SHANGHAI, flow, standins  # noqa: F401 - fixtures
from tests.support import checkout, open_order

CREDIT = "mutation($i: SetCreditLimitInput!) { setCreditLimit(input: $i) { errors { code } } }"
REPAY = "mutation($i: RepayOnAccountInput!) { repayOnAccount(input: $i) { errors { code } } }"


async def _template(flow, kind: str, template_id: str, fields: list[tuple[str, str]]):
    result = await flow.set_template(kind=kind, template_id=template_id, fields=[{"key": k, "value": v} for k, v in fields])
    assert result["errors"] == [], result


def _afternoon_in_shanghai(moment: dt.datetime) -> dt.datetime:
    day = moment.astimezone(SHANGHAI).date()
    return dt.datetime.combine(day, dt.time(14, 0), tzinfo=SHANGHAI).astimezone(dt.UTC)


async def test_count_card_reminder_goes_out_days_before_it_expires(flow):
    await _template(flow, "COUNT_CARD_EXPIRING", "tmpl_cc", [("thing1", "{card}"), ("number2", "{remaining}"), ("date3", "{expiresAt}")])
    member_id, openid, token = await flow.customer()
    await flow.accept(token, "tmpl_cc")
    order = await open_order(flow.demo, [{"countCardProductId": flow.demo.count_card_products["面部清洁10次卡"]}], member_id=member_id)
    bought = dt.datetime.now(dt.UTC)
    assert (await checkout(flow.demo, order["id"], [{"method": "CASH"}]))["errors"] == []
    counts = await flow.run()
    assert counts["sent"] == 0 and flow.sent_to(openid) == []
    # Valid 365 days from the sale; the brand reminds 7 days before: due 358 days after the sale.
    # Asked at 14:00 in Shanghai (outside the quiet hours) on the day before that and the day
    # after: from tomorrow's NOON, the first would be past due whenever the sale came before
    # 14:00 in Shanghai (06:00 UTC), so the test failed from 16:00 to 06:00 UTC.
    assert (await flow.run(_afternoon_in_shanghai(bought + dt.timedelta(days=357))))["sent"] == 0
    assert (await flow.run(_afternoon_in_shanghai(bought + dt.timedelta(days=359))))["sent"] == 1
    [message] = flow.sent_to(openid)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=365)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert message["data"] == {"thing1": {"value": "面部清洁10次卡"}, "number2": {"value": "10"}, "date3": {"value": expires.strftime("%Y年%m月%d日")}}


async def test_on_account_debt_reminder_falls_due_and_not_once_repaid(flow):
    await _template(flow, "ON_ACCOUNT_DUE", "tmpl_debt", [("amount1", "{amount}"), ("thing2", "{store}"), ("date3", "{dueAt}")])
    demo = flow.demo
    debtors = []
    for _ in range(2):
        member_id, openid, token = await flow.customer()
        await flow.accept(token, "tmpl_debt")
        assert (await demo.gql(CREDIT, {"i": {"memberId": member_id, "limit": 100_000}}, as_="manager"))["setCreditLimit"]["errors"] == []
        order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member_id)
        assert (await checkout(demo, order["id"], [{"method": "ON_ACCOUNT"}]))["errors"] == []
        debtors.append((member_id, openid))
    (paid_id, paid_openid), (owing_id, owing_openid) = debtors
    repaid = await demo.gql(REPAY, {"i": {"memberId": paid_id, "storeId": demo.jingan, "amount": 8_800, "tender": "CASH", "idempotencyKey": uuid.uuid4().hex}},
                            as_="reception")
    assert repaid["repayOnAccount"]["errors"] == []
    assert (await flow.run())["sent"] == 0
    counts = await flow.run(NOON + dt.timedelta(days=31))
    assert counts["sent"] == 1, counts
    assert flow.sent_to(paid_openid) == []
    [message] = flow.sent_to(owing_openid)
    assert message["data"]["amount1"] == {"value": "¥88.00"} and message["data"]["thing2"] == {"value": "静安店"}
    assert [(r["status"], r["lastError"]) for r in await flow.rows(paid_id)] == [("SKIPPED", "NO_LONGER_RELEVANT")]


async def test_booking_and_coupon_events_of_other_areas(flow, engine):
    await _template(flow, "BOOKING_CONFIRMED", "tmpl_booking", [("thing1", "{service}"), ("time2", "{time}"), ("thing3", "{store}{technician}")])
    await _template(flow, "COUPON_EXPIRING", "tmpl_coupon", [("thing1", "{coupon}"), ("date2", "{validTo}"), ("character_string3", "{code}")])
    member_id, openid, token = await flow.customer()
    await flow.accept(token, "tmpl_booking")
    await flow.accept(token, "tmpl_coupon")
    member_pk = parse_global_id(member_id)[1]
    store_pk = parse_global_id(flow.demo.jingan)[1]
    valid_to = (NOON + dt.timedelta(days=10)).isoformat()
    async with write_transaction(engine) as db:
        brand_id = (await db.exec_driver_sql("SELECT brand_id FROM stores LIMIT 1")).scalar_one()
        await outbox.emit(db, brand_id=brand_id, kind="booking.confirmed", dedupe_key="booking:1:confirmed", member_id=member_pk, store_id=store_pk,
                          payload={"booking_id": 1, "service_name": "精油全身SPA", "technician_name": "阿美", "start": "2026-12-02T10:00:00+08:00"})
        await outbox.emit(db, brand_id=brand_id, kind="coupon.issued", dedupe_key="coupon:7:issued", member_id=member_pk,
                          payload={"coupon_id": 7, "code": "MY-7-ABC", "template_name": "满300减50", "valid_to": valid_to})
        # The coupons area may also schedule its own expiry reminder: the same coupon is reminded once.
        await outbox.emit(db, brand_id=brand_id, kind="coupon.expiring", dedupe_key="coupon:7:expiring", member_id=member_pk,
                          payload={"coupon_id": 7, "code": "MY-7-ABC", "template_name": "满300减50", "valid_to": valid_to})
    assert (await flow.run())["sent"] == 2  # the booking now; the coupon's own reminder, due now
    booking = next(m for m in flow.sent_to(openid) if m["template_id"] == "tmpl_booking")
    assert booking["data"] == {"thing1": {"value": "精油全身SPA"}, "time2": {"value": "2026年12月02日 10:00"}, "thing3": {"value": "静安店阿美"}}
    coupon = next(m for m in flow.sent_to(openid) if m["template_id"] == "tmpl_coupon")
    assert coupon["data"]["thing1"] == {"value": "满300减50"} and coupon["data"]["character_string3"] == {"value": "MY-7-ABC"}
    assert (await flow.run(NOON + dt.timedelta(days=4)))["sent"] == 0
    assert len(flow.sent_to(openid)) == 2
