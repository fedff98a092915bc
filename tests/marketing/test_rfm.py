"""RFM, worked by hand on a brand of five members: recency in business days, frequency and spend in
365 days net of refunds, each scored 1 + floor(5 × worse / N), score R + F + M; one page of members
with their RFM costs the same statements whatever its size."""

from __future__ import annotations

from domain.marketing.rfm import Rfm, quintile, score_all
from tests.marketing.helpers import paid_order, refund
from tests.support import assert_ledger_ok
from tests.test_query_counts import StatementCounter

RFM = "query($id: ID!) { member(id: $id) { rfm { recency frequency monetary recencyScore frequencyScore monetaryScore score } } }"


def test_quintiles_by_hand():
    # N = 5: 0 worse -> 1, 1 -> 2, 2 -> 3, 3 -> 4, 4 -> 5; N = 10: two members per score.
    assert [quintile(w, 5) for w in range(5)] == [1, 2, 3, 4, 5]
    assert [quintile(w, 10) for w in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [quintile(w, 2) for w in range(2)] == [1, 3]
    scored = score_all({1: (2, 2, 17_600), 2: (30, 1, 58_800), 3: (None, 0, 0), 4: (0, 1, 29_800), 5: (5, 2, 33_600)})
    assert scored == {
        1: Rfm(2, 2, 17_600, 4, 4, 2),
        2: Rfm(30, 1, 58_800, 2, 2, 5),
        3: Rfm(None, 0, 0, 1, 1, 1),
        4: Rfm(0, 1, 29_800, 5, 2, 3),
        5: Rfm(5, 2, 33_600, 3, 4, 4),
    }
    assert [scored[i].score for i in range(1, 6)] == [10, 9, 3, 10, 11]
    # Everybody equal: everybody scores 1 on every measure.
    assert {r.score for r in score_all({1: (3, 1, 100), 2: (3, 1, 100)}).values()} == {3}


async def _members(demo) -> dict[str, str]:
    data = await demo.gql("{ members(first: 10) { edges { node { id name } } } }", as_="owner")
    found = {e["node"]["name"]: e["node"]["id"] for e in data["members"]["edges"]}
    found["赵敏"] = (await demo.register("赵敏"))["id"]
    found["钱多多"] = (await demo.register("钱多多"))["id"]
    return found


async def test_rfm_of_a_small_brand_worked_by_hand(demo, engine):
    m = await _members(demo)  # 张小美, 王芳, 李娜 (demo) and two new: five members, N = 5
    await paid_order(demo, m["张小美"], ["洗剪吹"], days_ago=2, engine=engine)
    await paid_order(demo, m["张小美"], ["洗剪吹"], days_ago=10, engine=engine)
    await paid_order(demo, m["张小美"], ["洗剪吹"], days_ago=400, engine=engine)  # outside the 365 days: counts for recency only
    await paid_order(demo, m["王芳"], ["精油全身SPA"], days_ago=30, engine=engine)
    await paid_order(demo, m["赵敏"], ["面部深层清洁"])
    wholly_refunded = await paid_order(demo, m["赵敏"], ["洗剪吹"])
    await refund(demo, wholly_refunded["id"])  # not a visit, and no spend
    await paid_order(demo, m["钱多多"], ["日式美甲"], days_ago=5, engine=engine)
    await paid_order(demo, m["钱多多"], ["日式美甲"], days_ago=6, engine=engine)

    found = {}
    for name, member_id in m.items():
        found[name] = (await demo.gql(RFM, {"id": member_id}, as_="marketer"))["member"]["rfm"]
    # recency: 赵敏 0 < 张小美 2 < 钱多多 5 < 王芳 30 < 李娜 never; frequency: 2, 1, 0, 1, 2; monetary as paid.
    assert {k: tuple(v.values()) for k, v in found.items()} == {
        "张小美": (2, 2, 17_600, 4, 4, 2, 10),
        "王芳": (30, 1, 58_800, 2, 2, 5, 9),
        "李娜": (None, 0, 0, 1, 1, 1, 3),
        "赵敏": (0, 1, 29_800, 5, 2, 3, 10),
        "钱多多": (5, 2, 33_600, 3, 4, 4, 11),
    }
    # A segment on the score: R+F+M of at least 10.
    created = (await demo.gql(
        """mutation { createSegment(input: {name: "高价值", rule: {minRfmScore: 10}}) {
             segment { memberCount members(first: 10) { edges { node { name rfm { score } } } } } errors { code } } }""", as_="marketer",
    ))["createSegment"]
    assert created["segment"]["memberCount"] == 3, created
    assert [(e["node"]["name"], e["node"]["rfm"]["score"]) for e in created["segment"]["members"]["edges"]] == [("钱多多", 11), ("赵敏", 10), ("张小美", 10)]
    await assert_ledger_ok(engine)


PAGE = """query($first: Int) { members(first: $first) { edges { node { id rfm { score recency } } } } }"""


async def test_a_page_of_members_with_rfm_costs_the_same_statements_whatever_its_size(demo, engine):
    for i in range(12):
        member = await demo.register(f"会员{i}")
        if i % 3:
            await paid_order(demo, member["id"], ["洗剪吹"], days_ago=i, engine=engine)
    counts = []
    for first in (2, 12):
        with StatementCounter(engine) as counter:
            data = await demo.gql(PAGE, {"first": first}, as_="marketer")
        assert len(data["members"]["edges"]) == first
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
