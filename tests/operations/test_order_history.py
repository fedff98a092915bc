"""收银流水 through the staff API (newest first, filters, cursor pages, store scope, lines, payments
and refunds in constant statements) and me.orders on the mini-program (the customer's own)."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from domain.members.customers import Channel
from tests.payments.test_callbacks import mp, standins  # noqa: F401 - the mini-program fixtures
from tests.support import checkout, open_order
from tests.test_permissions import demo_ids
from tests.test_query_counts import StatementCounter

ORDERS = """query($s: ID, $m: ID, $st: OrderStatus, $f: Date, $t: Date, $n: Int, $a: String) {
  orders(storeId: $s, memberId: $m, status: $st, from: $f, to: $t, first: $n, after: $a) {
    edges { cursor node { id status total refunded store { id } member { id }
      lines { name quantity netAmount refundedQuantity } breakdown { payments { method amount } }
      refunds { amount reason payments { method amount } } } }
    pageInfo { hasNextPage endCursor } } }"""
REFUND = "mutation($i: RefundOrderInput!) { refundOrder(input: $i) { errors { code } } }"


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def day_of_orders(demo, member) -> dict:
    """At 静安店: a paid haircut, a held one, one paid then refunded in part; at 徐汇店: a paid one."""
    haircut = demo.services["洗剪吹"]["id"]
    made = {}
    paid = await open_order(demo, [{"serviceId": haircut}], member_id=member)
    assert (await checkout(demo, paid["id"], [{"method": "CASH"}]))["errors"] == []
    made["paid"] = paid["id"]
    held = await open_order(demo, [{"serviceId": haircut}], member_id=member)
    await demo.gql("mutation($i: OrderInput!) { holdOrder(input: $i) { errors { code } } }", {"i": {"orderId": held["id"]}}, as_="reception")
    made["held"] = held["id"]
    part = await open_order(demo, [{"serviceId": haircut, "quantity": 2}], member_id=member)
    assert (await checkout(demo, part["id"], [{"method": "WECHAT"}]))["errors"] == []
    done = await demo.gql(REFUND, {"i": {"orderId": part["id"], "reason": "少做一次", "idempotencyKey": uuid.uuid4().hex,
                                         "lines": [{"lineId": part["lines"][0]["id"], "quantity": 1}]}}, as_="manager")
    assert done["refundOrder"]["errors"] == []
    made["refunded"] = part["id"]
    away = await open_order(demo, [{"serviceId": haircut}], store=demo.xuhui, as_="owner")
    assert (await checkout(demo, away["id"], [{"method": "CASH"}], as_="owner"))["errors"] == []
    made["away"] = away["id"]
    return made


async def ids_of(demo, as_="owner", **variables) -> list[str]:
    data = await demo.gql(ORDERS, variables, as_=as_)
    return [e["node"]["id"] for e in data["orders"]["edges"]]


async def test_newest_first_with_filters_scope_and_pages(demo):
    member = (await demo.register())["id"]
    o = await day_of_orders(demo, member)
    assert await ids_of(demo, n=10) == [o["away"], o["refunded"], o["held"], o["paid"]]
    assert await ids_of(demo, as_="reception", n=10) == [o["refunded"], o["held"], o["paid"]]
    assert await ids_of(demo, s=demo.xuhui, as_="finance") == [o["away"]]
    assert await ids_of(demo, st="HELD") == [o["held"]]
    assert await ids_of(demo, m=member, st="PARTIALLY_REFUNDED") == [o["refunded"]]
    assert await ids_of(demo, f=today().isoformat(), t=today().isoformat()) == [o["away"], o["refunded"], o["held"], o["paid"]]
    assert await ids_of(demo, f=(today() + dt.timedelta(days=1)).isoformat()) == []

    first = (await demo.gql(ORDERS, {"n": 2}, as_="owner"))["orders"]
    assert [e["node"]["id"] for e in first["edges"]] == [o["away"], o["refunded"]] and first["pageInfo"]["hasNextPage"] is True
    rest = (await demo.gql(ORDERS, {"n": 2, "a": first["pageInfo"]["endCursor"]}, as_="owner"))["orders"]
    assert [e["node"]["id"] for e in rest["edges"]] == [o["held"], o["paid"]] and rest["pageInfo"]["hasNextPage"] is False

    refunded = next(e["node"] for e in first["edges"] if e["node"]["id"] == o["refunded"])
    assert refunded["total"] == 17_600 and refunded["refunded"] == 8_800 and refunded["status"] == "PARTIALLY_REFUNDED"
    assert refunded["lines"] == [{"name": "洗剪吹", "quantity": 2, "netAmount": 17_600, "refundedQuantity": 1}]
    assert refunded["breakdown"]["payments"] == [{"method": "WECHAT", "amount": 17_600}]
    assert refunded["refunds"] == [{"amount": 8_800, "reason": "少做一次", "payments": [{"method": "WECHAT", "amount": 8_800}]}]


async def test_bad_arguments_are_coded_errors(demo):
    for variables, code in (({"s": None}, None), ({"s": "x"}, "NOT_FOUND"), ({"n": 101}, "INVALID_VALUE"), ({"a": "nonsense"}, "INVALID_CURSOR"),
                            ({"f": "2026-12-02", "t": "2026-12-01"}, "DATE_RANGE_INVALID"), ({"f": "1999-01-01"}, "INVALID_VALUE")):
        body = await demo.gql.raw(ORDERS, variables, as_="owner")
        assert [e["extensions"]["code"] for e in body.get("errors") or []] == ([code] if code else []), (variables, body)
    ids = await demo_ids(demo)
    body = await demo.gql.raw(ORDERS, {"s": ids.xuhui}, as_="reception")
    assert body["errors"][0]["extensions"]["code"] == "STORE_FORBIDDEN"
    body = await demo.gql.raw(ORDERS, {}, as_="technician")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_page_costs_the_same_statements_whatever_its_size(demo, engine):
    member = (await demo.register())["id"]
    for _ in range(3):
        await day_of_orders(demo, member)
    counts = []
    for first in (2, 12):
        with StatementCounter(engine) as counter:
            data = await demo.gql(ORDERS, {"n": first}, as_="owner")
        assert len(data["orders"]["edges"]) == first
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


async def test_the_customer_sees_their_own_settled_orders(mp, demo):  # noqa: F811
    ids = await demo_ids(demo)
    mine = await day_of_orders(demo, ids.member)
    other = (await demo.register())["id"]
    theirs = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=other)
    assert (await checkout(demo, theirs["id"], [{"method": "CASH"}]))["errors"] == []
    token = await mp.customer(Channel.WECHAT, phone="13800138000")
    data = await mp.gql("{ me { orders { id status total refunded lines { name quantity refundedQuantity } } } }", token=token)
    nodes = data["me"]["orders"]
    assert [n["id"] for n in nodes] == [mine["refunded"], mine["paid"]]
    assert nodes[0] == {"id": mine["refunded"], "status": "PARTIALLY_REFUNDED", "total": 17_600, "refunded": 8_800,
                        "lines": [{"name": "洗剪吹", "quantity": 2, "refundedQuantity": 1}]}

