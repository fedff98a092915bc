"""Tier rules are the brand's: today's numbers by default; thresholds on cumulative top-up or spend,
a points multiplier per tier that checkout applies; members already past a new threshold rise at
once, and nobody falls back; bad rules are coded errors that change nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from domain.brands.stores import brands
from domain.db import read_transaction
from tests.marketing.helpers import paid_order, refund
from tests.support import assert_ledger_ok

RULES = "{ tierRules { basis tiers { tier threshold pointsMultiplierPercent } } }"
SET = """mutation($i: SetTierRulesInput!) { setTierRules(input: $i) { rules { basis tiers { tier threshold pointsMultiplierPercent } }
  errors { code field message } } }"""
MEMBER = "query($id: ID!) { member(id: $id) { tier points } }"


def tiers(silver: int, gold: int, pct: tuple[int, int, int] = (100, 120, 150), normal_threshold: int = 0) -> list[dict]:
    return [{"tier": "NORMAL", "threshold": normal_threshold, "pointsMultiplierPercent": pct[0]},
            {"tier": "SILVER", "threshold": silver, "pointsMultiplierPercent": pct[1]},
            {"tier": "GOLD", "threshold": gold, "pointsMultiplierPercent": pct[2]}]


async def test_the_default_rules_are_todays_numbers(demo):
    assert (await demo.gql(RULES, as_="reception"))["tierRules"] == {"basis": "TOP_UP", "tiers": tiers(300_000, 1_000_000)}


async def test_spend_based_tiers_with_their_multipliers(demo, engine):
    data = await demo.gql(SET, {"i": {"basis": "SPEND", "tiers": tiers(50_000, 100_000, (100, 200, 300))}}, as_="owner")
    assert data["setTierRules"] == {"rules": {"basis": "SPEND", "tiers": tiers(50_000, 100_000, (100, 200, 300))}, "errors": []}, data
    member = (await demo.register())["id"]
    # A top-up is not spend: ¥5,000 on a card leaves the member NORMAL under a spend basis.
    assert (await demo.top_up(member, 500_000))["errors"] == []
    assert (await demo.gql(MEMBER, {"id": member}, as_="reception"))["member"] == {"tier": "NORMAL", "points": 0}
    first = await paid_order(demo, member, ["精油全身SPA"])  # ¥588 cash at NORMAL ×1, then SILVER
    assert first["pointsEarned"] == 588
    assert (await demo.gql(MEMBER, {"id": member}, as_="reception"))["member"] == {"tier": "SILVER", "points": 588}
    second = await paid_order(demo, member, ["洗剪吹"])  # ¥88 at SILVER ×2
    assert second["pointsEarned"] == 176
    await paid_order(demo, member, ["精油全身SPA"])  # 67,600 + 58,800 reaches GOLD; earned at SILVER ×2
    assert (await demo.gql(MEMBER, {"id": member}, as_="reception"))["member"] == {"tier": "GOLD", "points": 588 + 176 + 1176}
    # A refund lowers the spend, never the tier.
    await refund(demo, first["id"])
    assert (await demo.gql(MEMBER, {"id": member}, as_="reception"))["member"] == {"tier": "GOLD", "points": 176 + 1176}
    third = await paid_order(demo, member, ["洗剪吹"])  # GOLD ×3
    assert third["pointsEarned"] == 264
    await assert_ledger_ok(engine)


async def test_members_already_past_a_lowered_threshold_rise_at_once(demo, engine):
    zhang = (await demo.gql('{ members(search: "张小美") { edges { node { id tier } } } }', as_="owner"))["members"]["edges"][0]["node"]
    wang = (await demo.gql('{ members(search: "王芳") { edges { node { id tier } } } }', as_="owner"))["members"]["edges"][0]["node"]
    assert (zhang["tier"], wang["tier"]) == ("NORMAL", "NORMAL")  # ¥1,000 and ¥500 topped up
    await demo.gql(SET, {"i": {"basis": "TOP_UP", "tiers": tiers(50_000, 100_000)}}, as_="owner")
    assert (await demo.gql(MEMBER, {"id": zhang["id"]}, as_="owner"))["member"]["tier"] == "GOLD"
    assert (await demo.gql(MEMBER, {"id": wang["id"]}, as_="owner"))["member"]["tier"] == "SILVER"
    # Raised again: nobody falls back.
    await demo.gql(SET, {"i": {"basis": "TOP_UP", "tiers": tiers(300_000, 1_000_000)}}, as_="owner")
    assert (await demo.gql(MEMBER, {"id": zhang["id"]}, as_="owner"))["member"]["tier"] == "GOLD"
    # The top-up basis counts the principal topped up: the points multiplier follows the tier.
    sale = await paid_order(demo, zhang["id"], ["洗剪吹"])
    assert sale["pointsEarned"] == 132  # ¥88 at GOLD ×1.5
    await assert_ledger_ok(engine)


async def test_bad_rules_are_refused_and_change_nothing(demo, engine):
    async def snapshot():
        async with read_transaction(engine) as db:
            return tuple((await db.execute(select(brands))).one())

    before = await snapshot()
    cases = [
        (tiers(100_000, 100_000), ("INVALID_VALUE", "tiers")),
        (tiers(100_000, 50_000), ("INVALID_VALUE", "tiers")),
        (tiers(100_000, 200_000, normal_threshold=1), ("INVALID_VALUE", "tiers")),
        (tiers(100_000, 200_000)[:2], ("INVALID_VALUE", "tiers")),
        (tiers(100_000, 200_000) + tiers(100_000, 200_000)[:1], ("INVALID_VALUE", "tiers")),
        (tiers(0, 200_000), ("AMOUNT_NOT_POSITIVE", "tiers.SILVER.threshold")),
        (tiers(100_000, 200_000, (100, 120, 1001)), ("INVALID_VALUE", "tiers.GOLD.pointsMultiplierPercent")),
        (tiers(100_000, 200_000, (-1, 120, 150)), ("INVALID_VALUE", "tiers.NORMAL.pointsMultiplierPercent")),
    ]
    for rules, expected in cases:
        data = await demo.gql(SET, {"i": {"basis": "TOP_UP", "tiers": rules}}, as_="owner")
        assert (data["setTierRules"]["rules"], [(e["code"], e["field"]) for e in data["setTierRules"]["errors"]]) == (None, [expected]), rules
    assert await snapshot() == before


ADJUST = """mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { member { id points } errors { code field message } } }"""
HISTORY = """query($id: ID!, $after: String) { member(id: $id) { points pointsHistory(first: 2, after: $after) {
  edges { cursor node { kind delta pointsAfter reason order { id } store { id } staff { id } } } pageInfo { hasNextPage endCursor } } } }"""


async def adjust(demo, member_id: str, delta: int, reason: str = "补录积分", key: str | None = None, as_: str = "manager") -> dict:
    return (await demo.gql(ADJUST, {"i": {"memberId": member_id, "delta": delta, "reason": reason, "idempotencyKey": key or uuid.uuid4().hex}},
                           as_=as_))["adjustPoints"]


async def test_a_manager_adjusts_points_of_their_stores_members_once_with_a_reason(demo, engine):
    member = (await demo.register())["id"]  # registered at 静安店, the manager's store
    order = await paid_order(demo, member, ["洗剪吹"])
    done = await adjust(demo, member, 50, key="adj-1")
    assert done == {"member": {"id": member, "points": 138}, "errors": []}, done
    assert await adjust(demo, member, 50, key="adj-1") == done  # a replay adjusts nothing more
    assert [(e["code"], e["field"]) for e in (await adjust(demo, member, 60, key="adj-1"))["errors"]] == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    refusals = [
        (await adjust(demo, member, -139), ("INSUFFICIENT_POINTS", "delta")),
        (await adjust(demo, member, 0), ("INVALID_VALUE", "delta")),
        (await adjust(demo, member, 10, reason=" "), ("REQUIRED", "reason")),
        (await adjust(demo, member, 10, reason="x" * 201), ("TOO_LONG", "reason")),
    ]
    for result, expected in refusals:
        assert (result["member"], [(e["code"], e["field"]) for e in result["errors"]]) == (None, [expected]), result
    wang = (await demo.gql('{ members(search: "王芳") { edges { node { id } } } }', as_="owner"))["members"]["edges"][0]["node"]["id"]
    assert [e["code"] for e in (await adjust(demo, wang, 10))["errors"]] == ["STORE_FORBIDDEN"]  # 徐汇店's member
    assert (await adjust(demo, wang, 10, as_="owner"))["errors"] == []
    taken = await adjust(demo, member, -138, reason="清零", as_="owner")
    assert taken["member"]["points"] == 0

    page = (await demo.gql(HISTORY, {"id": member}, as_="manager"))["member"]
    staff = demo.staff
    assert page["points"] == 0
    assert [e["node"] for e in page["pointsHistory"]["edges"]] == [
        {"kind": "ADJUSTMENT", "delta": -138, "pointsAfter": 0, "reason": "清零", "order": None, "store": {"id": demo.jingan}, "staff": {"id": staff["owner"]}},
        {"kind": "ADJUSTMENT", "delta": 50, "pointsAfter": 138, "reason": "补录积分", "order": None, "store": {"id": demo.jingan}, "staff": {"id": staff["manager"]}},
    ]
    assert page["pointsHistory"]["pageInfo"]["hasNextPage"] is True
    rest = (await demo.gql(HISTORY, {"id": member, "after": page["pointsHistory"]["pageInfo"]["endCursor"]}, as_="manager"))["member"]["pointsHistory"]
    assert [e["node"] for e in rest["edges"]] == [
        {"kind": "EARNED", "delta": 88, "pointsAfter": 88, "reason": None, "order": {"id": order["id"]}, "store": {"id": demo.jingan}, "staff": {"id": staff["reception"]}},
    ]
    assert rest["pageInfo"]["hasNextPage"] is False
    audit = (await demo.gql("{ auditLog(first: 20) { edges { node { action entityId after } } } }", as_="owner"))["auditLog"]["edges"]
    adjustments = [e["node"] for e in audit if e["node"]["action"] == "member.points_adjust"]
    assert [a["after"]["delta"] for a in adjustments] == [-138, 10, 50]
    await assert_ledger_ok(engine)
