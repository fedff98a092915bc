"""Dates a calendar cannot move across time zones (year 1, year 9999) and ids of the wrong type, in
every operation the hostile client found answering an internal error: each is a coded refusal now,
on both endpoints, and changes nothing."""

from __future__ import annotations

import pytest

from domain.members.customers import Channel
from tests.payments.test_callbacks import mp, standins  # noqa: F401 - fixtures
from tests.support import assert_ledger_ok

QUERIES = [
    ("owner", '{ prepaidLiability(date: "0001-01-01") { principal } }'),
    ("finance", '{ prepaidLiability(date: "9999-12-31") { principal } }'),
    ("manager", '{ technicianPerformance(from: "9999-12-31", to: "9999-12-31") { servicesCount } }'),
    ("owner", '{ technicianPerformance(from: "0001-01-01", to: "0001-01-01") { servicesCount } }'),
    ("marketer", '{ technicianLeaderboard(from: "9999-12-31", to: "9999-12-31") { rating } }'),
    ("owner", '{ technicianLeaderboard(from: "0001-01-01", to: "0001-01-01") { rating } }'),
]


def _coded(body: dict) -> list[str]:
    """The codes of a refusal, wherever it came: top-level errors, or the one payload's errors."""
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    for value in (body.get("data") or {}).values():
        if isinstance(value, dict):
            codes += [e["code"] for e in value.get("errors") or []]
    return codes


@pytest.mark.parametrize("role, query", QUERIES)
async def test_reports_over_dates_outside_the_books_are_coded_refusals(demo, role, query):
    body = await demo.gql.raw(query, as_=role)
    codes = _coded(body)
    assert codes and "INTERNAL_ERROR" not in codes and all(codes), body


async def test_availability_and_bookings_in_year_one_and_9999_are_refused_on_both_endpoints(demo, mp, engine):  # noqa: F811
    store, service = demo.jingan, demo.services["洗剪吹"]["id"]
    for day in ("0001-01-01", "9999-12-31"):
        body = await demo.gql.raw('query($s: ID!, $v: ID!, $d: Date!) { availability(storeId: $s, serviceId: $v, date: $d) { start } }',
                                     {"s": store, "v": service, "d": day}, as_="reception")
        assert _coded(body) and "INTERNAL_ERROR" not in _coded(body), body
    token = await mp.customer(Channel.WECHAT, phone="13800138000")
    for day in ("0001-01-01", "9999-12-31"):
        body = await mp.gql.raw('query($s: ID!, $v: ID!, $d: Date!) { availability(storeId: $s, serviceId: $v, date: $d) { start } }',
                                {"s": store, "v": service, "d": day}, token=token)
        assert _coded(body) and "INTERNAL_ERROR" not in _coded(body), body
    body = await mp.gql.raw(
        'mutation($i: MpCreateBookingInput!) { createBooking(input: $i) { booking { id } errors { code } } }',
        {"i": {"storeId": store, "serviceId": service, "start": "0001-01-01T00:00:00+08:00", "idempotencyKey": "y1"}}, token=token)
    assert _coded(body) and "INTERNAL_ERROR" not in _coded(body), body
    await assert_ledger_ok(engine)


async def test_a_coupon_template_valid_until_9999_is_refused(demo):
    body = await demo.gql.raw(
        'mutation { createCouponTemplate(input: {name: "永远", kind: THRESHOLD_OFF, threshold: 1000, amountOff: 100, validTo: "9999-12-31"}) '
        '{ template { id } errors { code field } } }', as_="marketer")
    assert _coded(body) and "INTERNAL_ERROR" not in _coded(body), body
    assert (body.get("data") or {}).get("createCouponTemplate", {}).get("template") is None, body
