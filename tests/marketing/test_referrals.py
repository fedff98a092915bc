"""Referrals: a friend registered with a member's code is linked once; when the friend's first paid
order completes both get the brand's reward exactly once, through the outbox and `meiye worker`
(two workers at once on PostgreSQL's parallel connections too); a full refund of that order takes
the rewards back, never below zero, and voids reward coupons still unused."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from domain import outbox
from domain.coupons.issuing import coupons
from domain.db import create_engine, read_transaction
from domain.marketing import referrals
from domain.marketing.referrals import referrals as referral_rows
from domain.members.members import members
from integrations import worker
from resolvers.ids import to_global_id
from tests.coupons.helpers import owner, template
from tests.marketing.helpers import paid_order, pk, points_rows, refund, run_referrals
from tests.payments.test_callbacks import mp, standins  # noqa: F401 - the mini-program fixtures
from tests.support import assert_ledger_ok

REGISTER = """mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id referralCode } errors { code field message } } }"""
CODE = "query($id: ID!) { member(id: $id) { referralCode points } }"


async def referral_code(demo, member_id: str) -> str:
    return (await demo.gql(CODE, {"id": member_id}, as_="reception"))["member"]["referralCode"]


async def register_friend(demo, code: str | None, phone: str | None = None, name: str = "好友") -> dict:
    phone = phone or f"137{uuid.uuid4().int % 10**8:08d}"
    return (await demo.gql(REGISTER, {"i": {"name": name, "phone": phone, "storeId": demo.jingan, "consent": True, "referralCode": code}},
                           as_="reception"))["registerMember"]


async def zhang(demo) -> str:
    data = await demo.gql('{ members(search: "张小美") { edges { node { id } } } }', as_="owner")
    return data["members"]["edges"][0]["node"]["id"]


async def test_a_referral_is_rewarded_once_and_taken_back_by_a_full_refund(demo, engine):
    referrer = await zhang(demo)
    code = await referral_code(demo, referrer)
    assert len(code) == 8 and code.isupper() and not set(code) & set("01OIL"), code
    friend = await register_friend(demo, f" {code.lower()} ")  # typed loosely at the desk
    assert friend["errors"] == [], friend
    friend_id = friend["member"]["id"]
    assert friend["member"]["referralCode"] != code

    first = await paid_order(demo, friend_id, ["洗剪吹"])  # ¥88 cash: 88 points earned
    assert await run_referrals(engine) == 1
    second = await paid_order(demo, friend_id, ["精油全身SPA"])  # not the first order: no reward
    await run_referrals(engine)
    assert await run_referrals(engine) == 0  # every event taken once
    assert await points_rows(engine, pk(referrer)) == [("REFERRAL_REWARD", 100, 100)]
    assert await points_rows(engine, pk(friend_id)) == [("EARNED", 88, 88), ("REFERRAL_REWARD", 100, 188), ("EARNED", 588, 776)]
    await assert_ledger_ok(engine)

    # The referrer spends 60 of the 100 meanwhile; a refund of the second order changes nothing of the reward.
    adjusted = await demo.gql("mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { errors { code } } }",
                              {"i": {"memberId": referrer, "delta": -60, "reason": "兑换礼品", "idempotencyKey": "spend-60"}}, as_="owner")
    assert adjusted["adjustPoints"]["errors"] == []
    await refund(demo, second["id"])
    await run_referrals(engine)
    assert (await demo.gql(CODE, {"id": referrer}, as_="owner"))["member"]["points"] == 40

    # The full refund of the first order takes the rewards back: what is left of them, never below zero.
    await refund(demo, first["id"])
    await run_referrals(engine)
    await run_referrals(engine)
    assert await points_rows(engine, pk(referrer)) == [("REFERRAL_REWARD", 100, 100), ("ADJUSTMENT", -60, 40), ("REFERRAL_REVERSAL", -40, 0)]
    assert await points_rows(engine, pk(friend_id)) == [
        ("EARNED", 88, 88), ("REFERRAL_REWARD", 100, 188), ("EARNED", 588, 776), ("REFUND_REVERSAL", -588, 188),
        ("REFUND_REVERSAL", -88, 100), ("REFERRAL_REVERSAL", -100, 0),
    ]
    async with read_transaction(engine) as db:
        row = (await db.execute(select(referral_rows))).one()
    assert (row.referrer_id, row.friend_id, row.channel, row.rewarded_order_id, row.reversed_at is not None) == (
        pk(referrer), pk(friend_id), "DESK", pk(first["id"]), True)
    await assert_ledger_ok(engine)


async def test_who_cannot_be_referred_and_codes_that_do_not_exist(demo, engine):
    referrer = await zhang(demo)
    code = await referral_code(demo, referrer)
    async with read_transaction(engine) as db:
        before = await db.scalar(select(func.count()).select_from(members))
    unknown = await register_friend(demo, "ZZZZZZZZ")
    assert (unknown["member"], [(e["code"], e["field"]) for e in unknown["errors"]]) == (None, [("REFERRAL_CODE_NOT_FOUND", "referralCode")])
    long = await register_friend(demo, "A" * 40)
    assert [e["code"] for e in long["errors"]] == ["REFERRAL_CODE_NOT_FOUND"]
    taken = await register_friend(demo, code, phone="13700137000")  # 王芳 is a member already
    assert [(e["code"], e["field"]) for e in taken["errors"]] == [("PHONE_TAKEN", "phone")]
    async with read_transaction(engine) as db:
        assert await db.scalar(select(func.count()).select_from(members)) == before
        assert await db.scalar(select(func.count()).select_from(referral_rows)) == 0
    # Without a code, or with an empty one, it is a plain registration.
    assert (await register_friend(demo, ""))["errors"] == []
    assert (await register_friend(demo, None))["errors"] == []
    async with read_transaction(engine) as db:
        assert await db.scalar(select(func.count()).select_from(referral_rows)) == 0
        codes = list((await db.execute(select(members.c.referral_code))).scalars())
    assert len(codes) == len(set(codes)) == before + 2


async def test_a_first_order_refunded_before_the_worker_runs_rewards_nobody(demo, engine):
    friend_id = (await register_friend(demo, await referral_code(demo, await zhang(demo))))["member"]["id"]
    first = await paid_order(demo, friend_id, ["洗剪吹"])
    await refund(demo, first["id"])
    await paid_order(demo, friend_id, ["洗剪吹"])  # a later order is not the first
    await run_referrals(engine)
    assert await points_rows(engine, pk(await zhang(demo))) == []
    await assert_ledger_ok(engine)


async def test_two_workers_at_once_reward_once_and_take_back_once(demo, engine, database_url):
    referrer = await zhang(demo)
    code = await referral_code(demo, referrer)
    friends = [(await register_friend(demo, code, name=f"好友{i}"))["member"]["id"] for i in range(4)]
    firsts = {}
    for friend_id in friends:
        firsts[friend_id] = await paid_order(demo, friend_id, ["洗剪吹"])
        await paid_order(demo, friend_id, ["洗剪吹"])
    # Two workers, each with its own connections, over the same events at the same moment.
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        passes = await asyncio.gather(*(outbox.consume(e, referrals.CONSUMER) for e in engines))
        assert sum(passes) == 8, passes  # eight paid events, each applied by exactly one worker
        for friend_id in friends:
            await refund(demo, firsts[friend_id]["id"])
        passes = await asyncio.gather(*(outbox.consume(e, referrals.CONSUMER) for e in engines))
        assert sum(passes) == 4, passes
    finally:
        for e in engines:
            await e.dispose()
    rows = await points_rows(engine, pk(referrer))
    assert [r[:2] for r in rows] == [("REFERRAL_REWARD", 100)] * 4 + [("REFERRAL_REVERSAL", -100)] * 4, rows
    for friend_id in friends:
        kinds = [r[0] for r in await points_rows(engine, pk(friend_id))]
        assert kinds.count("REFERRAL_REWARD") == 1 and kinds.count("REFERRAL_REVERSAL") == 1, kinds
    await assert_ledger_ok(engine)


async def test_the_brands_reward_may_be_coupons_voided_when_taken_back_unused(demo, engine):
    actor = await owner(engine)
    gift = to_global_id("CouponTemplate", await template(engine, actor, name="邀请礼"))
    welcome = to_global_id("CouponTemplate", await template(engine, actor, name="新人礼"))
    data = await demo.gql(
        """mutation($i: SetReferralRewardInput!) { setReferralReward(input: $i) {
             reward { referrerPoints friendPoints referrerCouponTemplateId friendCouponTemplateId } errors { code field } } }""",
        {"i": {"referrerPoints": 0, "friendPoints": 50, "referrerCouponTemplateId": gift, "friendCouponTemplateId": welcome}}, as_="marketer",
    )
    assert data["setReferralReward"] == {"reward": {"referrerPoints": 0, "friendPoints": 50, "referrerCouponTemplateId": gift,
                                                    "friendCouponTemplateId": welcome}, "errors": []}, data
    bad = await demo.gql("mutation($i: SetReferralRewardInput!) { setReferralReward(input: $i) { errors { code field } } }",
                         {"i": {"referrerPoints": -1}}, as_="marketer")
    assert bad["setReferralReward"]["errors"] == [{"code": "INVALID_VALUE", "field": "referrerPoints"}]
    referrer = await zhang(demo)
    friend_id = (await register_friend(demo, await referral_code(demo, referrer)))["member"]["id"]
    first = await paid_order(demo, friend_id, ["洗剪吹"])
    await run_referrals(engine)
    await run_referrals(engine)
    async with read_transaction(engine) as db:
        issued = sorted((r.member_id, r.batch_key, r.status, r.source) for r in await db.execute(select(coupons)))
    referral_id = (await _referral_ids(engine))[0]
    assert issued == sorted([(pk(referrer), f"referral:{referral_id}:referrer", "ISSUED", "REFERRAL"),
                             (pk(friend_id), f"referral:{referral_id}:friend", "ISSUED", "REFERRAL")])
    assert await points_rows(engine, pk(referrer)) == []
    assert await points_rows(engine, pk(friend_id)) == [("EARNED", 88, 88), ("REFERRAL_REWARD", 50, 138)]
    await refund(demo, first["id"])
    await run_referrals(engine)
    async with read_transaction(engine) as db:
        assert sorted((await db.execute(select(coupons.c.status))).scalars()) == ["VOID", "VOID"]
    await assert_ledger_ok(engine)


async def _referral_ids(engine) -> list[int]:
    async with read_transaction(engine) as db:
        return list((await db.execute(select(referral_rows.c.id).order_by(referral_rows.c.id))).scalars())


ME = """{ me { id referralCode points pointsHistory(first: 10) { edges { node { kind delta pointsAfter reason order { id } store { id } } } } } }"""
BIND = """mutation($i: BindPhoneInput!) { bindPhone(input: $i) { member { id referralCode } errors { code field } } }"""


async def test_a_friend_bound_in_the_mini_program_with_a_code_is_linked_and_rewarded_by_the_worker(mp, demo, engine):  # noqa: F811
    referrer = await zhang(demo)
    code = await referral_code(demo, referrer)
    login = (await mp.gql(f'mutation {{ wechatLogin(input: {{code: "demo:o_{uuid.uuid4().hex[:8]}"}}) {{ token }} }}'))["wechatLogin"]
    token = login["token"]
    # An existing member cannot be referred: refused, and nothing bound.
    refused = (await mp.gql(BIND, {"i": {"phoneCode": "demo-phone:13700137000", "consent": True, "referralCode": code}}, token=token))["bindPhone"]
    assert refused == {"member": None, "errors": [{"code": "REFERRAL_NOT_NEW_MEMBER", "field": "referralCode"}]}
    assert (await mp.gql(ME, token=token))["me"] is None
    bound = (await mp.gql(BIND, {"i": {"phoneCode": "demo-phone:13612345678", "consent": True, "referralCode": code}}, token=token))["bindPhone"]
    assert bound["errors"] == [], bound
    friend_id = bound["member"]["id"]
    # Linked once: binding again (already a member now) with the code is refused.
    again = (await mp.gql(BIND, {"i": {"phoneCode": "demo-phone:13612345678", "consent": True, "referralCode": code}}, token=token))["bindPhone"]
    assert [e["code"] for e in again["errors"]] == ["REFERRAL_NOT_NEW_MEMBER"]

    order = await paid_order(demo, friend_id, ["洗剪吹"])
    counts = await worker.run_once(mp.services)
    assert counts["events"] == 1, counts
    me = (await mp.gql(ME, token=token))["me"]
    assert me["referralCode"] == bound["member"]["referralCode"] and me["points"] == 188
    assert [(n["node"]["kind"], n["node"]["delta"], n["node"]["pointsAfter"], n["node"]["order"]) for n in me["pointsHistory"]["edges"]] == [
        ("REFERRAL_REWARD", 100, 188, {"id": order["id"]}), ("EARNED", 88, 88, {"id": order["id"]})]
    assert all(n["node"]["store"] == {"id": demo.jingan} for n in me["pointsHistory"]["edges"])
    async with read_transaction(engine) as db:
        assert (await db.execute(select(referral_rows.c.channel, referral_rows.c.referrer_id))).all() == [("MINI_PROGRAM", pk(referrer))]
    assert await points_rows(engine, pk(referrer)) == [("REFERRAL_REWARD", 100, 100)]
    await assert_ledger_ok(engine)
