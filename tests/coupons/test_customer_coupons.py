"""The customer's coupons in the mini-program: 积分兑换 of their own points, once per key, and
`me.coupons` with the signed QR payload the desk scans; the staff exchange for a member."""

from __future__ import annotations

from sqlalchemy import select

from domain.db import read_transaction, write_transaction
from domain.members import points
from domain.members.members import members
from domain.members.points import PointsKind, points_entries
from tests.coupons.api import CHECK, create_template
from tests.payments.test_callbacks import mp, standins  # noqa: F401 - fixtures
from tests.support import assert_ledger_ok, open_order
from domain.members.customers import Channel

ME = "{ me { points coupons { code status validTo qrPayload template { name kind } } } }"
EXCHANGE = """mutation($i: MyExchangePointsInput!) { exchangePoints(input: $i) { coupon { code status } errors { code field } } }"""
STAFF_EXCHANGE = """mutation($i: ExchangePointsInput!) { exchangePoints(input: $i) { coupon { code } errors { code field } } }"""


async def _give_points(engine, phone_member_name: str, amount: int) -> int:
    async with write_transaction(engine) as db:
        row = (await db.execute(select(members.c.id, members.c.brand_id).where(members.c.name == phone_member_name))).one()
        await points.change(db, brand_id=row.brand_id, member_id=row.id, delta=amount, kind=PointsKind.ADJUSTMENT, reason="测试")
    return row.id


async def test_a_customer_exchanges_points_once_per_key_and_sees_the_coupon_with_its_qr(mp, engine):  # noqa: F811
    member_pk = await _give_points(engine, "张小美", 150)
    template = await create_template(mp.demo, name="积分换券", threshold=0, pointsCost=100)
    listed = (await mp.gql("{ couponTemplates { id pointsCost } }", token=(token := await mp.customer(Channel.WECHAT))))["couponTemplates"]
    assert {"id": template["id"], "pointsCost": 100} in listed
    first = (await mp.gql(EXCHANGE, {"i": {"templateId": template["id"], "idempotencyKey": "ex-1"}}, token=token))["exchangePoints"]
    again = (await mp.gql(EXCHANGE, {"i": {"templateId": template["id"], "idempotencyKey": "ex-1"}}, token=token))["exchangePoints"]
    assert first["errors"] == [] and again == first
    short = (await mp.gql(EXCHANGE, {"i": {"templateId": template["id"], "idempotencyKey": "ex-2"}}, token=token))["exchangePoints"]
    assert short == {"coupon": None, "errors": [{"code": "INSUFFICIENT_POINTS", "field": "points"}]}
    me = (await mp.gql(ME, token=token))["me"]
    assert me["points"] == 50
    (mine,) = [c for c in me["coupons"] if c["code"] == first["coupon"]["code"]]
    assert (mine["status"], mine["template"]) == ("ISSUED", {"name": "积分换券", "kind": "THRESHOLD_OFF"})
    async with read_transaction(engine) as db:
        kinds = [(k, d) for k, d in await db.execute(select(points_entries.c.kind, points_entries.c.delta)
                                                     .where(points_entries.c.member_id == member_pk).order_by(points_entries.c.id))]
    assert kinds[-1] == ("EXCHANGED", -100) and [k for k, _ in kinds].count("EXCHANGED") == 1
    # The desk scans the customer's QR code.
    member_gid = (await mp.demo.gql("query($s: String) { members(search: $s) { edges { node { id } } } }", {"s": "张小美"}, as_="reception"))["members"]["edges"][0]["node"]["id"]
    order = await open_order(mp.demo, [{"serviceId": mp.demo.services["洗剪吹"]["id"]}], member_id=member_gid)
    check = (await mp.demo.gql(CHECK, {"o": order["id"], "c": mine["qrPayload"]}, as_="reception"))["couponCheck"]
    assert (check["applicable"], check["discount"]) == (True, 5_000)
    await assert_ledger_ok(engine)


async def test_the_desk_exchanges_points_for_a_member_and_a_template_without_a_cost_is_refused(demo, engine):
    await _give_points(engine, "李娜", 30)
    member_gid = (await demo.gql("query($s: String) { members(search: $s) { edges { node { id } } } }", {"s": "李娜"}, as_="reception"))["members"]["edges"][0]["node"]["id"]
    costly = await create_template(demo, pointsCost=30)
    free = await create_template(demo)
    done = (await demo.gql(STAFF_EXCHANGE, {"i": {"memberId": member_gid, "templateId": costly["id"], "idempotencyKey": "d-1"}}, as_="reception"))["exchangePoints"]
    assert done["errors"] == [] and len(done["coupon"]["code"]) == 12
    refused = (await demo.gql(STAFF_EXCHANGE, {"i": {"memberId": member_gid, "templateId": free["id"], "idempotencyKey": "d-2"}}, as_="reception"))["exchangePoints"]
    assert refused == {"coupon": None, "errors": [{"code": "COUPON_NOT_EXCHANGEABLE", "field": "templateId"}]}
