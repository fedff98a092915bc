"""Shared set-up for the marketing tests: orders paid (and moved back in time), the referral consumer run."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update

from domain import outbox
from domain.db import read_transaction, write_transaction
from domain.marketing import referrals
from domain.members.points import points_entries
from domain.sales.orders import orders
from resolvers.ids import parse_global_id
from tests.support import checkout, open_order


def pk(global_id: str) -> int:
    return parse_global_id(global_id)[1]


async def paid_order(demo, member_id: str, services: list[str], *, days_ago: float = 0, engine=None, coupon_codes: list[str] | None = None,
                     payments: list[dict] | None = None) -> dict:
    """An order of `services` paid in cash, its paid time moved `days_ago` back (exact days, so the
    brand's business-day difference is exactly that)."""
    order = await open_order(demo, [{"serviceId": demo.services[s]["id"]} for s in services], member_id=member_id)
    variables = {"i": {"orderId": order["id"], "payments": payments or [{"method": "CASH"}], "idempotencyKey": uuid.uuid4().hex}}
    if coupon_codes:
        variables["i"]["couponCodes"] = coupon_codes
        paid = (await demo.gql(CHECKOUT_WITH_COUPONS, variables, as_="reception"))["checkout"]
    else:
        paid = await checkout(demo, order["id"], variables["i"]["payments"], key=variables["i"]["idempotencyKey"])
    assert paid["errors"] == [], paid
    if days_ago:
        await move_back(engine, order["id"], days_ago)
    return paid["order"]


async def move_back(engine, order_id: str, days: float) -> None:
    async with write_transaction(engine) as db:
        paid_at = await db.scalar(select(orders.c.paid_at).where(orders.c.id == pk(order_id)))
        await db.execute(update(orders).where(orders.c.id == pk(order_id)).values(paid_at=paid_at - dt.timedelta(days=days)))


CHECKOUT_WITH_COUPONS = """mutation($i: CheckoutInput!) { checkout(input: $i) { order { id status total discount paid lines { id } }
  errors { code field message } } }"""

REFUND = "mutation($i: RefundOrderInput!) { refundOrder(input: $i) { refund { id amount order { status } } errors { code field } } }"


async def refund(demo, order_id: str, lines: list[dict] | None = None) -> dict:
    payload = {"orderId": order_id, "reason": "顾客不满意", "idempotencyKey": uuid.uuid4().hex}
    if lines is not None:
        payload["lines"] = lines
    result = (await demo.gql(REFUND, {"i": payload}, as_="manager"))["refundOrder"]
    assert result["errors"] == [], result
    return result["refund"]


async def run_referrals(engine) -> int:
    """One pass of the referral consumer, as `meiye worker` runs it."""
    return await outbox.consume(engine, referrals.CONSUMER)


async def points_rows(engine, member_pk: int) -> list[tuple]:
    async with read_transaction(engine) as db:
        rows = await db.execute(select(points_entries.c.kind, points_entries.c.delta, points_entries.c.points_after)
                                .where(points_entries.c.member_id == member_pk, points_entries.c.delta != 0).order_by(points_entries.c.id))
        return [tuple(r) for r in rows]
