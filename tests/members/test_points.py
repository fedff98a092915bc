"""Points as a ledger: each change a row with the points after it, once per reference, never below
zero, and `verify` catching a balance that does not match its rows."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from domain.db import create_engine, read_transaction, write_transaction
from domain.errors import DomainError
from domain.members import points
from domain.members.members import members
from domain.members.points import PointsKind, points_entries
from resolvers.ids import parse_global_id
from tests.support import assert_ledger_ok, checkout, open_order


async def _entries(engine, member_pk: int) -> list[tuple]:
    async with read_transaction(engine) as db:
        rows = await db.execute(select(points_entries.c.kind, points_entries.c.delta, points_entries.c.points_after)
                                .where(points_entries.c.member_id == member_pk).order_by(points_entries.c.id))
        return [tuple(r) for r in rows]


def _pk(global_id: str) -> int:
    return parse_global_id(global_id)[1]


async def test_a_sale_earns_points_and_its_refund_takes_them_back_as_rows(demo, engine):
    member = await demo.register()
    order = await open_order(demo, [{"serviceId": demo.services["精油全身SPA"]["id"]}], member_id=member["id"])
    paid = await checkout(demo, order["id"], [{"method": "CASH"}])
    assert paid["order"]["pointsEarned"] == 588  # ¥588 in cash, 普通 tier 1×
    refund = (await demo.gql(
        "mutation($i: RefundOrderInput!) { refundOrder(input: $i) { errors { code } } }",
        {"i": {"orderId": order["id"], "reason": "顾客不满意", "idempotencyKey": "pts-r1"}}, as_="manager",
    ))["refundOrder"]
    assert refund["errors"] == []
    assert await _entries(engine, _pk(member["id"])) == [("EARNED", 588, 588), ("REFUND_REVERSAL", -588, 0)]
    await assert_ledger_ok(engine)


async def test_a_take_never_goes_below_zero_and_a_reference_changes_once(engine, demo):
    member = await demo.register()
    pk = _pk(member["id"])
    async with write_transaction(engine) as db:
        brand_id = await db.scalar(select(members.c.brand_id).where(members.c.id == pk))
        first = await points.change(db, brand_id=brand_id, member_id=pk, delta=50, kind=PointsKind.REVIEW_REWARD, reference="review:line:1")
        again = await points.change(db, brand_id=brand_id, member_id=pk, delta=50, kind=PointsKind.REVIEW_REWARD, reference="review:line:1")
        capped = await points.change(db, brand_id=brand_id, member_id=pk, delta=-80, kind=PointsKind.REFUND_REVERSAL, at_most_what_is_left=True)
    assert (first.points_after, again, capped.delta, capped.points_after) == (50, None, -50, 0)
    try:
        async with write_transaction(engine) as db:
            await points.change(db, brand_id=brand_id, member_id=pk, delta=-1, kind=PointsKind.EXCHANGED)
        raise AssertionError("a take beyond the balance must be refused")
    except DomainError as error:
        assert error.code == "INSUFFICIENT_POINTS"
    assert await _entries(engine, pk) == [("REVIEW_REWARD", 50, 50), ("REFUND_REVERSAL", -50, 0)]
    await assert_ledger_ok(engine)


async def test_concurrent_rewards_with_one_reference_change_once(engine, demo, database_url, on_postgres):
    member = await demo.register()
    pk = _pk(member["id"])
    async with read_transaction(engine) as db:
        brand_id = await db.scalar(select(members.c.brand_id).where(members.c.id == pk))
    engines = [create_engine(database_url) for _ in range(6)] if on_postgres else [engine] * 6

    async def reward(e):
        async with write_transaction(e) as db:
            return await points.change(db, brand_id=brand_id, member_id=pk, delta=30, kind=PointsKind.REFERRAL_REWARD, reference="referral:7")

    try:
        results = await asyncio.gather(*(reward(e) for e in engines))
    finally:
        if on_postgres:
            for e in engines:
                await e.dispose()
    assert sum(r is not None for r in results) == 1
    assert await _entries(engine, pk) == [("REFERRAL_REWARD", 30, 30)]


async def test_verify_catches_points_that_do_not_match_their_rows(engine, demo):
    member = await demo.register()
    pk = _pk(member["id"])
    async with write_transaction(engine) as db:
        brand_id = await db.scalar(select(members.c.brand_id).where(members.c.id == pk))
        await points.change(db, brand_id=brand_id, member_id=pk, delta=10, kind=PointsKind.ADJUSTMENT, reason="补录")
        await db.execute(update(members).where(members.c.id == pk).values(points=999))
    async with read_transaction(engine) as db:
        broken = {c.name: c.broken for c in await points.verify(db)}
    assert broken["every member's points equal the sum of their points entries"] == [f"member {pk}: points 999, entries 10"]
    async with write_transaction(engine) as db:
        await db.execute(update(members).where(members.c.id == pk).values(points=10))
