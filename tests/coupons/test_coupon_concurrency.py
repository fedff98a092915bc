"""Exactly once under concurrency (on PostgreSQL each request holds its own pooled connection, so
these race for real; on SQLite they queue on the write lock): one coupon on eight orders at once
is redeemed by exactly one; a template's total and per-member limits hold against parallel issues."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from domain.coupons.issuing import SkipReason, coupons, issue_coupons
from domain.coupons.templates import coupon_templates
from domain.db import read_transaction, write_transaction
from domain.ledger.postings import accounts
from tests.coupons.api import COUPON, one_coupon, pay
from tests.coupons.helpers import owner, pk, template
from tests.support import assert_ledger_ok, open_order

PARALLEL = 8


async def test_eight_checkouts_with_one_code_pay_exactly_one(demo, engine):
    member = await demo.register()
    spa = demo.services["精油全身SPA"]["id"]
    coupon = await one_coupon(demo, member["id"])
    orders = [await open_order(demo, [{"serviceId": spa}], member_id=member["id"]) for _ in range(PARALLEL)]
    results = await asyncio.gather(*(pay(demo, o["id"], [{"method": "CASH"}], [coupon["code"]]) for o in orders))
    outcomes = Counter("PAID" if r["errors"] == [] else r["errors"][0]["code"] for r in results)
    assert outcomes == {"PAID": 1, "COUPON_USED": PARALLEL - 1}, results
    (winner,) = [r for r in results if r["errors"] == []]
    assert winner["order"]["total"] == 58_800 - 5_000
    found = (await demo.gql(COUPON, {"c": coupon["code"]}, as_="reception"))["coupon"]
    assert (found["status"], found["redeemedOrder"]["id"]) == ("REDEEMED", winner["order"]["id"])
    async with read_transaction(engine) as db:
        assert await db.scalar(select(coupon_templates.c.redeemed_count)) == 1
        assert await db.scalar(select(func.sum(accounts.c.balance)).where(accounts.c.code.like("%:store_discount:coupon%"))) == 5_000
    # The seven refused orders are still open and can be paid without it.
    refused = [o for o, r in zip(orders, results) if r["errors"]]
    assert (await pay(demo, refused[0]["id"], [{"method": "CASH"}], []))["order"]["total"] == 58_800
    await assert_ledger_ok(engine)


async def test_parallel_issues_never_pass_the_total_or_the_per_member_limit(demo, engine):
    actor = await owner(engine)
    members = [pk((await demo.register(name=f"会员{i}"))["id"]) for i in range(PARALLEL)]
    limited = await template(engine, actor, name="限量券", total_limit=3)
    once_each = await template(engine, actor, name="每人一张", per_member_limit=1)

    async def issue(template_id: int, member_id: int):
        async with write_transaction(engine) as db:
            return await issue_coupons(db, actor, template_id=template_id, member_ids=[member_id], source="STAFF")

    totals = await asyncio.gather(*(issue(limited, m) for m in members))
    assert Counter(len(r.issued) for r in totals) == {1: 3, 0: PARALLEL - 3}
    assert all(r.skipped_by_reason == {SkipReason.TOTAL_LIMIT: 1} for r in totals if not r.issued)
    same_member = await asyncio.gather(*(issue(once_each, members[0]) for _ in range(PARALLEL)))
    assert sum(len(r.issued) for r in same_member) == 1
    async with read_transaction(engine) as db:
        counts = dict((await db.execute(select(coupons.c.template_id, func.count()).group_by(coupons.c.template_id))).all())
        issued = dict((await db.execute(select(coupon_templates.c.id, coupon_templates.c.issued_count))).all())
    assert counts == {limited: 3, once_each: 1} and issued == {limited: 3, once_each: 1}
