"""Coupons the brand's rules issue by themselves: on registration, on a first top-up that reaches a
rule carrying a template, and 消费满N次送1次 once per Nth paid unit of a service."""

from __future__ import annotations

from sqlalchemy import select

from domain.coupons.issuing import coupons
from domain.coupons.templates import coupon_templates
from domain.db import read_transaction
from tests.coupons.api import create_template, pay, refund
from tests.coupons.helpers import pk
from tests.support import assert_ledger_ok, open_order

RULE = """mutation($i: CreateCouponRuleInput!) { createCouponRule(input: $i) { rule { id trigger visitCount } errors { code field } } }"""
PRODUCT = """mutation($i: CreateStoredValueCardProductInput!) { createStoredValueCardProduct(input: $i) { product { id } errors { code field } } }"""


async def _sources(engine, member_gid: str) -> list[tuple[str, str]]:
    async with read_transaction(engine) as db:
        rows = await db.execute(select(coupons.c.source, coupon_templates.c.name).join(coupon_templates, coupon_templates.c.id == coupons.c.template_id)
                                .where(coupons.c.member_id == pk(member_gid)).order_by(coupons.c.id))
        return [tuple(r) for r in rows]


async def test_registration_gives_the_rules_coupon(demo, engine):
    template = await create_template(demo, name="注册礼")
    rule = (await demo.gql(RULE, {"i": {"trigger": "REGISTRATION", "templateId": template["id"]}}, as_="marketer"))["createCouponRule"]
    assert rule["errors"] == [] and rule["rule"]["trigger"] == "REGISTRATION"
    member = await demo.register()
    assert await _sources(engine, member["id"]) == [("REGISTRATION", "注册礼")]


async def test_a_first_top_up_reaching_a_rule_with_a_template_gives_its_coupon_once(demo, engine):
    template = await create_template(demo, name="首充礼")
    product = (await demo.gql(PRODUCT, {"i": {"name": "首充卡", "serviceDiscountPercent": 90, "topUpRules": [
        {"threshold": 50_000, "bonus": 0, "couponTemplateId": template["id"]}]}}, as_="owner"))["createStoredValueCardProduct"]
    assert product["errors"] == [], product
    member = await demo.register()
    demo.products["首充卡"] = product["product"]["id"]
    first = await demo.top_up(member["id"], 60_000, product="首充卡")
    assert first["errors"] == []
    await demo.top_up(member["id"], 60_000, card_id=first["card"]["id"])
    assert await _sources(engine, member["id"]) == [("FIRST_TOP_UP", "首充礼")]
    other = await demo.register()
    await demo.top_up(other["id"], 10_000, product="首充卡")  # below the rule: nothing, and no longer a first top-up
    await demo.top_up(other["id"], 60_000, product="首充卡")
    assert await _sources(engine, other["id"]) == []
    await assert_ledger_ok(engine)


async def test_every_third_paid_facial_earns_one_free_facial_once(demo, engine):
    facial = demo.services["面部深层清洁"]["id"]
    voucher = await create_template(demo, name="满3送1", kind="FREE_SERVICE", threshold=None, amountOff=None, serviceIds=[facial])
    rule = (await demo.gql(RULE, {"i": {"trigger": "VISIT", "templateId": voucher["id"], "serviceId": facial, "visitCount": 3}}, as_="marketer"))
    assert rule["createCouponRule"]["errors"] == []
    member = await demo.register()
    for quantity in (1, 1):
        order = await open_order(demo, [{"serviceId": facial, "quantity": quantity}], member_id=member["id"])
        assert (await pay(demo, order["id"], [{"method": "CASH"}], []))["errors"] == []
    assert await _sources(engine, member["id"]) == []
    order = await open_order(demo, [{"serviceId": facial, "quantity": 4}], member_id=member["id"])  # units 3..6: crosses 3 and 6
    assert (await pay(demo, order["id"], [{"method": "CASH"}], []))["errors"] == []
    assert await _sources(engine, member["id"]) == [("VISIT_REWARD", "满3送1"), ("VISIT_REWARD", "满3送1")]
    # Refunded and bought again: the 6th unit's reward is not given twice.
    assert (await refund(demo, order["id"], [{"lineId": (await _line(demo, order["id"])), "quantity": 1}]))["errors"] == []
    again = await open_order(demo, [{"serviceId": facial}], member_id=member["id"])
    assert (await pay(demo, again["id"], [{"method": "CASH"}], []))["errors"] == []
    assert len(await _sources(engine, member["id"])) == 2
    await assert_ledger_ok(engine)


async def _line(demo, order_id: str) -> str:
    data = await demo.gql("query($id: ID!) { order(id: $id) { lines { id } } }", {"id": order_id}, as_="manager")
    return data["order"]["lines"][0]["id"]


async def test_a_visit_rule_needs_a_free_service_template_and_a_service(demo):
    threshold = await create_template(demo)
    bad = (await demo.gql(RULE, {"i": {"trigger": "VISIT", "templateId": threshold["id"], "serviceId": demo.services["洗剪吹"]["id"], "visitCount": 3}},
                          as_="marketer"))["createCouponRule"]
    assert bad["errors"] == [{"code": "INVALID_VALUE", "field": "templateId"}]
    missing = (await demo.gql(RULE, {"i": {"trigger": "VISIT", "templateId": threshold["id"], "visitCount": 3}}, as_="marketer"))["createCouponRule"]
    assert missing["errors"] == [{"code": "REQUIRED", "field": "serviceId"}]
