"""Issuing: one coupon per member per batch key (a bulk issue is resumable), the template's limits
never passed, codes unguessable and unique, and an outbox event per coupon issued."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from domain.coupons.issuing import CODE_ALPHABET, CODE_LENGTH, SkipReason, coupons, issue_coupons, would_issue
from domain.coupons.templates import coupon_templates
from domain.db import read_transaction, write_transaction
from domain.outbox import outbox_events
from tests.coupons.helpers import owner, pk, template


async def test_a_batch_issues_each_member_once_and_says_what_it_skipped(demo, engine):
    actor = await owner(engine)
    a, b = [pk((await demo.register(name=n))["id"]) for n in ("甲", "乙")]
    template_id = await template(engine, actor, total_limit=3, per_member_limit=2)
    async with write_transaction(engine) as db:
        assert await would_issue(db, actor, template_id=template_id, member_ids=[a, b, 999999], batch_key="campaign:1") == 2
        first = await issue_coupons(db, actor, template_id=template_id, member_ids=[a, b, 999999], source="CAMPAIGN", batch_key="campaign:1")
    assert len(first.issued) == 2 and first.skipped_by_reason == {SkipReason.MEMBER_NOT_FOUND: 1}
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in first.codes) and len(set(first.codes)) == 2
    async with write_transaction(engine) as db:
        assert await would_issue(db, actor, template_id=template_id, member_ids=[a, b], batch_key="campaign:1") == 0
        again = await issue_coupons(db, actor, template_id=template_id, member_ids=[a, b], source="CAMPAIGN", batch_key="campaign:1")
        assert (again.issued, again.skipped_by_reason) == ([], {SkipReason.ALREADY_ISSUED: 2})
        # A second batch: one left under the total limit of 3.
        assert await would_issue(db, actor, template_id=template_id, member_ids=[a, b], batch_key="campaign:2") == 1
        second = await issue_coupons(db, actor, template_id=template_id, member_ids=[a, b], source="CAMPAIGN", batch_key="campaign:2")
        assert (len(second.issued), second.skipped_by_reason) == (1, {SkipReason.TOTAL_LIMIT: 1})
    async with read_transaction(engine) as db:
        assert await db.scalar(select(coupon_templates.c.issued_count).where(coupon_templates.c.id == template_id)) == 3
        assert await db.scalar(select(func.count()).select_from(coupons)) == 3
        kinds = sorted((await db.execute(select(outbox_events.c.kind).where(outbox_events.c.kind.like("coupon.%")))).scalars())
    assert kinds == ["coupon.expiring"] * 3 + ["coupon.issued"] * 3


async def test_the_per_member_limit_holds_across_batches(demo, engine):
    actor = await owner(engine)
    member = pk((await demo.register())["id"])
    template_id = await template(engine, actor, per_member_limit=1)
    async with write_transaction(engine) as db:
        first = await issue_coupons(db, actor, template_id=template_id, member_ids=[member], source="STAFF")
        second = await issue_coupons(db, actor, template_id=template_id, member_ids=[member], source="STAFF")
    assert len(first.issued) == 1 and second.skipped_by_reason == {SkipReason.PER_MEMBER_LIMIT: 1}


async def test_valid_days_end_at_the_end_of_a_local_day(demo, engine):
    actor = await owner(engine)
    member = pk((await demo.register())["id"])
    template_id = await template(engine, actor, valid_days=1)
    now = dt.datetime(2026, 12, 1, 17, 30, tzinfo=dt.UTC)  # 01:30 on 2 December in Shanghai
    async with write_transaction(engine) as db:
        issued = await issue_coupons(db, actor, template_id=template_id, member_ids=[member], source="STAFF", now=now)
    assert issued.issued[0].valid_to == dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)  # midnight ending 2 December, Shanghai


async def test_a_clash_of_random_codes_draws_a_new_one(demo, engine, monkeypatch):
    from domain.coupons import issuing

    actor = await owner(engine)
    a, b = [pk((await demo.register(name=n))["id"]) for n in ("甲", "乙")]
    template_id = await template(engine, actor)
    drawn = iter(["AAAAAAAAAAAA", "AAAAAAAAAAAA", "BBBBBBBBBBBB"])
    monkeypatch.setattr(issuing, "new_code", lambda: next(drawn))
    async with write_transaction(engine) as db:
        result = await issue_coupons(db, actor, template_id=template_id, member_ids=[a, b], source="STAFF", batch_key="clash")
    assert result.codes == ["AAAAAAAAAAAA", "BBBBBBBBBBBB"] and result.skipped == 0


async def test_void_takes_back_only_unused_coupons(demo, engine):
    from domain.coupons.issuing import void_coupons

    actor = await owner(engine)
    a, b = [pk((await demo.register(name=n))["id"]) for n in ("甲", "乙")]
    template_id = await template(engine, actor)
    async with write_transaction(engine) as db:
        issued = await issue_coupons(db, actor, template_id=template_id, member_ids=[a, b], source="REFERRAL", batch_key="referral:1")
        await db.execute(coupons.update().where(coupons.c.id == issued.ids[1]).values(status="REDEEMED"))
        assert await void_coupons(db, brand_id=actor.brand_id, coupon_ids=issued.ids) == [issued.ids[0]]
        statuses = dict((await db.execute(select(coupons.c.id, coupons.c.status))).all())
        reminders = sorted((await db.execute(select(outbox_events.c.dedupe_key).where(outbox_events.c.kind == "coupon.expiring"))).scalars())
    assert statuses == {issued.ids[0]: "VOID", issued.ids[1]: "REDEEMED"}
    assert reminders == [f"coupon:{issued.ids[1]}:expiring"]
