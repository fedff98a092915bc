"""Campaigns: the segment's members at launch get one coupon each, once per idempotency key;
attribution counts what was issued, what was redeemed, and the spend of the orders that redeemed
its coupons (a full refund gives the coupon back and takes the order out)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from domain.coupons.issuing import coupons
from domain.db import read_transaction
from domain.marketing.campaigns import campaigns
from resolvers.ids import to_global_id
from tests.coupons.helpers import owner, template
from tests.marketing.helpers import paid_order, pk, refund
from tests.marketing.test_segments import create, register
from tests.support import assert_ledger_ok

LAUNCH = """mutation($i: LaunchCampaignInput!) { launchCampaign(input: $i) {
  campaign { id name issuedCount redeemedCount revenue audience segmentId couponTemplateId } errors { code field message } } }"""
CAMPAIGNS = "{ campaigns { id name issuedCount redeemedCount revenue audience } }"


async def launch(demo, name: str, segment_id: str, template_id: str, key: str, as_: str = "marketer") -> dict:
    variables = {"i": {"name": name, "segmentId": segment_id, "couponTemplateId": template_id, "idempotencyKey": key}}
    return (await demo.gql(LAUNCH, variables, as_=as_))["launchCampaign"]


async def code_of(engine, member_id: str, campaign_id: str) -> str:
    async with read_transaction(engine) as db:
        return await db.scalar(select(coupons.c.code).where(coupons.c.member_id == pk(member_id), coupons.c.batch_key == f"campaign:{pk(campaign_id)}"))


async def test_a_campaign_launched_twice_with_one_key_issues_once_and_attributes_its_orders(demo, engine):
    sleeper = await register(demo, "沉睡甲", ["唤醒"])
    other_sleeper = await register(demo, "沉睡乙", ["唤醒"])
    regular = await register(demo, "常客", ["唤醒"])
    await paid_order(demo, sleeper, ["洗剪吹"], days_ago=60, engine=engine)
    await paid_order(demo, regular, ["洗剪吹"], days_ago=3, engine=engine)
    segment = (await create(demo, "沉睡30天", {"tags": ["唤醒"], "dormantDays": 30}))["segment"]
    template_id = to_global_id("CouponTemplate", await template(engine, await owner(engine)))  # 满300减50

    preview = await demo.gql("query($s: ID!, $t: ID!) { campaignPreview(segmentId: $s, couponTemplateId: $t) { audience wouldIssue } }",
                             {"s": segment["id"], "t": template_id}, as_="marketer")
    assert preview["campaignPreview"] == {"audience": 2, "wouldIssue": 2}
    first = await launch(demo, "唤醒老客", segment["id"], template_id, "launch-1")
    again = await launch(demo, "唤醒老客", segment["id"], template_id, "launch-1")
    assert first["errors"] == [] and again == first, (first, again)
    campaign = first["campaign"]
    assert (campaign["audience"], campaign["issuedCount"], campaign["redeemedCount"], campaign["revenue"]) == (2, 2, 0, 0)
    async with read_transaction(engine) as db:
        assert await db.scalar(select(func.count()).select_from(campaigns)) == 1
        assert await db.scalar(select(func.count()).select_from(coupons)) == 2
    reused = await launch(demo, "另一个活动", segment["id"], template_id, "launch-1")
    assert [(e["code"], e["field"]) for e in reused["errors"]] == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]

    # The sleeper comes back with the coupon: ¥588 - ¥50 = ¥538 in cash is the campaign's revenue.
    code = await code_of(engine, sleeper, campaign["id"])
    redeemed = await paid_order(demo, sleeper, ["精油全身SPA"], coupon_codes=[code])
    assert (redeemed["total"], redeemed["discount"]) == (53_800, 5_000), redeemed
    await paid_order(demo, other_sleeper, ["洗剪吹"])  # came back without the coupon: not attributed
    listed = (await demo.gql(CAMPAIGNS, as_="marketer"))["campaigns"]
    assert listed == [{"id": campaign["id"], "name": "唤醒老客", "issuedCount": 2, "redeemedCount": 1, "revenue": 53_800, "audience": 2}]

    # A full refund gives the coupon back: neither redeemed nor revenue any more.
    await refund(demo, redeemed["id"])
    listed = (await demo.gql(CAMPAIGNS, as_="owner"))["campaigns"]
    assert [(c["issuedCount"], c["redeemedCount"], c["revenue"]) for c in listed] == [(2, 0, 0)]
    await assert_ledger_ok(engine)


async def test_a_partly_refunded_order_counts_what_stands_and_a_new_key_is_a_new_campaign(demo, engine):
    sleeper = await register(demo, "沉睡丙", ["唤醒"])
    segment = (await create(demo, "从没来过", {"tags": ["唤醒"], "dormantDays": 1}))["segment"]
    template_id = to_global_id("CouponTemplate", await template(engine, await owner(engine)))
    campaign = (await launch(demo, "首单礼", segment["id"], template_id, uuid.uuid4().hex))["campaign"]
    code = await code_of(engine, sleeper, campaign["id"])
    order = await paid_order(demo, sleeper, ["精油全身SPA", "洗剪吹"], coupon_codes=[code])
    assert (order["total"], order["discount"]) == (62_600, 5_000), order  # 67,600 - 5,000
    # The coupon's 5,000 spread over 58,800 and 8,800 by largest remainder: 4,349 and 651; the 洗剪吹 refund returns 8,149.
    back = await refund(demo, order["id"], [{"lineId": order["lines"][1]["id"], "quantity": 1}])
    assert back["amount"] == 8_149
    listed = (await demo.gql(CAMPAIGNS, as_="marketer"))["campaigns"]
    assert [(c["issuedCount"], c["redeemedCount"], c["revenue"]) for c in listed] == [(1, 1, 62_600 - 8_149)]
    # The member has paid since: no longer dormant, so a new launch reaches nobody.
    second = (await launch(demo, "首单礼二", segment["id"], template_id, uuid.uuid4().hex))["campaign"]
    assert (second["audience"], second["issuedCount"]) == (0, 0)
    await assert_ledger_ok(engine)


async def test_launch_refusals_are_coded_and_issue_nothing(demo, engine):
    segment = (await create(demo, "全部", {}))["segment"]
    template_id = to_global_id("CouponTemplate", await template(engine, await owner(engine)))
    cases = [
        ({"segmentId": to_global_id("Segment", 99999)}, ("NOT_FOUND", "segmentId")),
        ({"couponTemplateId": to_global_id("CouponTemplate", 99999)}, ("NOT_FOUND", "couponTemplateId")),
        ({"couponTemplateId": "garbage"}, ("NOT_FOUND", "couponTemplateId")),
        ({"name": " "}, ("REQUIRED", "name")),
        ({"idempotencyKey": ""}, ("IDEMPOTENCY_KEY_REQUIRED", "idempotencyKey")),
    ]
    for change, expected in cases:
        variables = {"i": {"name": "活动", "segmentId": segment["id"], "couponTemplateId": template_id, "idempotencyKey": uuid.uuid4().hex, **change}}
        result = (await demo.gql(LAUNCH, variables, as_="marketer"))["launchCampaign"]
        assert (result["campaign"], [(e["code"], e["field"]) for e in result["errors"]]) == (None, [expected]), (change, result)
    async with read_transaction(engine) as db:
        assert await db.scalar(select(func.count()).select_from(coupons)) == 0
        assert await db.scalar(select(func.count()).select_from(campaigns)) == 0


async def test_issue_coupons_to_a_segment_reaches_its_members_now(demo, engine):
    await register(demo, "分群甲", ["发券"])
    await register(demo, "分群乙", ["发券"])
    segment = (await create(demo, "发券组", {"tags": ["发券"]}))["segment"]
    template_id = to_global_id("CouponTemplate", await template(engine, await owner(engine)))
    issue = """mutation($i: IssueCouponsInput!) { issueCoupons(input: $i) { issuedCount errors { code field } } }"""
    done = await demo.gql(issue, {"i": {"templateId": template_id, "segmentId": segment["id"], "idempotencyKey": "seg-issue-1"}}, as_="marketer")
    assert done["issueCoupons"] == {"issuedCount": 2, "errors": []}, done
    missing = await demo.gql(issue, {"i": {"templateId": template_id, "segmentId": to_global_id("Segment", 99999), "idempotencyKey": "seg-issue-2"}},
                             as_="marketer")
    assert missing["issueCoupons"]["errors"] == [{"code": "NOT_FOUND", "field": "segmentId"}]
    async with read_transaction(engine) as db:
        assert sorted((await db.execute(select(coupons.c.source))).scalars()) == ["SEGMENT", "SEGMENT"]
