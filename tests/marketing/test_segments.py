"""Segments: saved rules whose members are computed each time (a dormant member who comes back
leaves at once), brand-scoped, paged by cursor; total spend is net of refunds; bad rules are coded
errors that save nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from domain.db import read_transaction, write_transaction
from domain.brands import stores as tenancy
from domain.brands import staff as staff_accounts
from domain.actor import Role
from domain.marketing.segments import segments
from resolvers.ids import to_global_id
from tests.marketing.helpers import paid_order, refund
from tests.support import assert_ledger_ok

CREATE = """mutation($i: CreateSegmentInput!) { createSegment(input: $i) {
  segment { id name memberCount rule { tags tiers storeIds minTotalSpent dormantDays minRfmScore } } errors { code field message } } }"""
SEGMENT = """query($id: ID!, $first: Int, $after: String) { segment(id: $id) { id name memberCount
  members(first: $first, after: $after) { edges { cursor node { id name phone } } pageInfo { hasNextPage endCursor } } } }"""


async def create(demo, name: str, rule: dict, as_: str = "marketer") -> dict:
    return (await demo.gql(CREATE, {"i": {"name": name, "rule": rule}}, as_=as_))["createSegment"]


async def names(demo, segment_id: str, first: int = 50) -> list[str]:
    data = (await demo.gql(SEGMENT, {"id": segment_id, "first": first}, as_="marketer"))["segment"]
    return [e["node"]["name"] for e in data["members"]["edges"]]


async def register(demo, name: str, tags: list[str], store: str | None = None) -> str:
    data = await demo.gql(
        "mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code } } }",
        {"i": {"name": name, "phone": f"136{uuid.uuid4().int % 10**8:08d}", "storeId": store or demo.jingan, "consent": True, "tags": tags}},
        as_="owner",
    )
    assert data["registerMember"]["errors"] == [], data
    return data["registerMember"]["member"]["id"]


async def test_a_dormant_segment_is_computed_from_its_rule_each_time(demo, engine):
    came_today = await register(demo, "今天来", ["唤醒"])
    away_40 = await register(demo, "四十天", ["唤醒"])
    away_30 = await register(demo, "整三十天", ["唤醒"])
    away_29 = await register(demo, "二十九天", ["唤醒"])
    await register(demo, "从没来", ["唤醒"])
    await register(demo, "别的标签", ["VIP"])  # never came either, but not tagged
    await paid_order(demo, came_today, ["洗剪吹"])
    await paid_order(demo, away_40, ["洗剪吹"], days_ago=40, engine=engine)
    await paid_order(demo, away_30, ["洗剪吹"], days_ago=30, engine=engine)
    await paid_order(demo, away_29, ["洗剪吹"], days_ago=29, engine=engine)
    created = await create(demo, "沉睡30天", {"tags": ["唤醒"], "dormantDays": 30})
    assert created["errors"] == [] and created["segment"]["memberCount"] == 3, created
    assert created["segment"]["rule"] == {"tags": ["唤醒"], "tiers": [], "storeIds": [], "minTotalSpent": None, "dormantDays": 30, "minRfmScore": None}
    segment_id = created["segment"]["id"]
    assert await names(demo, segment_id) == ["从没来", "整三十天", "四十天"]  # newest first

    # Nothing was copied: the member who comes back leaves the segment at once.
    await paid_order(demo, away_40, ["日式美甲"])
    data = (await demo.gql(SEGMENT, {"id": segment_id, "first": 1}, as_="marketer"))["segment"]
    assert data["memberCount"] == 2
    assert [e["node"]["name"] for e in data["members"]["edges"]] == ["从没来"] and data["members"]["pageInfo"]["hasNextPage"] is True
    after = data["members"]["pageInfo"]["endCursor"]
    rest = (await demo.gql(SEGMENT, {"id": segment_id, "first": 1, "after": after}, as_="marketer"))["segment"]["members"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["整三十天"] and rest["pageInfo"]["hasNextPage"] is False
    # A marketer sees phones masked.
    assert all("****" in e["node"]["phone"] for e in data["members"]["edges"])
    await assert_ledger_ok(engine)


async def test_total_spent_is_net_of_refunds_and_rules_combine(demo, engine):
    whole = await register(demo, "全额退", ["测"])
    part = await register(demo, "部分退", ["测"])
    xuhui = await register(demo, "徐汇客", ["测"], store=demo.xuhui)
    refunded = await paid_order(demo, whole, ["精油全身SPA"])
    await refund(demo, refunded["id"])
    kept = await paid_order(demo, part, ["精油全身SPA", "洗剪吹"])
    await refund(demo, kept["id"], [{"lineId": kept["lines"][1]["id"], "quantity": 1}])  # the 洗剪吹 comes back: 58,800 stands
    await paid_order(demo, xuhui, ["精油全身SPA"])
    at_58800 = await create(demo, "消费满588", {"tags": ["测"], "minTotalSpent": 58_800})
    assert at_58800["segment"]["memberCount"] == 2
    assert await names(demo, at_58800["segment"]["id"]) == ["徐汇客", "部分退"]
    above = await create(demo, "消费满600", {"tags": ["测"], "minTotalSpent": 60_000})
    assert above["segment"]["memberCount"] == 0
    jingan_only = await create(demo, "静安消费满588", {"tags": ["测"], "minTotalSpent": 58_800, "storeIds": [demo.jingan]})
    assert await names(demo, jingan_only["segment"]["id"]) == ["部分退"]
    normal = await create(demo, "普通会员", {"tiers": ["SILVER", "GOLD"]})
    assert await names(demo, normal["segment"]["id"]) == []
    await assert_ledger_ok(engine)


async def test_bad_rules_are_coded_errors_and_save_nothing(demo, engine):
    async with write_transaction(engine) as db:
        other_brand = await tenancy.create_brand(db, name="别家")
        other_store = await tenancy.create_store(db, brand_id=other_brand, name="别家店")
        await staff_accounts.create_staff(db, brand_id=other_brand, store_id=None, username="other-owner", name="别总", role=Role.OWNER,
                                          password="other-brand-pass")
    cases = [
        ({"dormantDays": 0}, "INVALID_VALUE", "rule.dormantDays"),
        ({"minRfmScore": 2}, "INVALID_VALUE", "rule.minRfmScore"),
        ({"minTotalSpent": -1}, "AMOUNT_NOT_POSITIVE", "rule.minTotalSpent"),
        ({"storeIds": [to_global_id("Store", other_store)]}, "NOT_FOUND", "rule.storeIds"),
        ({"storeIds": ["garbage"]}, "NOT_FOUND", "rule.storeIds.0"),
        ({"tags": ["x" * 21]}, "TOO_LONG", "rule.tags"),
    ]
    for rule, code, field in cases:
        result = await create(demo, "坏规则", rule)
        assert (result["segment"], [(e["code"], e["field"]) for e in result["errors"]]) == (None, [(code, field)]), (rule, result)
    assert (await create(demo, "", {}))["errors"][0]["code"] == "REQUIRED"
    assert (await create(demo, "全部会员", {}))["segment"]["memberCount"] == 3  # the demo's three
    assert [(e["code"], e["field"]) for e in (await create(demo, "全部会员", {}))["errors"]] == [("DUPLICATE_NAME", "name")]
    async with read_transaction(engine) as db:
        assert await db.scalar(select(func.count()).select_from(segments)) == 1

    # Another brand sees nothing of it, and its own empty-rule segment counts only its members.
    demo.gql.tokens["other"] = await demo.gql.login("other-owner", "other-brand-pass")
    mine = (await demo.gql("{ segments { id } }", as_="owner"))["segments"]
    assert (await demo.gql(SEGMENT, {"id": mine[0]["id"]}, as_="other"))["segment"] is None
    theirs = (await demo.gql(CREATE, {"i": {"name": "全部会员", "rule": {}}}, as_="other"))["createSegment"]
    assert theirs["errors"] == [] and theirs["segment"]["memberCount"] == 0
    assert (await demo.gql("{ segments { id } }", as_="other"))["segments"] == [{"id": theirs["segment"]["id"]}]
