"""GraphQL helpers of the coupon tests."""

from __future__ import annotations

import uuid

CREATE = """mutation($i: CreateCouponTemplateInput!) { createCouponTemplate(input: $i) {
  template { id name kind threshold amountOff percentOff maxDiscount issuedCount redeemedCount } errors { code field message } } }"""
ISSUE = """mutation($i: IssueCouponsInput!) { issueCoupons(input: $i) {
  issuedCount skippedCount coupons { id code status qrPayload validTo member { id } template { id name kind } } errors { code field message } } }"""
CHECK = """query($o: ID!, $c: String!, $x: [String!]) { couponCheck(orderId: $o, code: $c, otherCodes: $x) {
  applicable discount reasons coupon { code status } } }"""
COUPON = "query($c: String!) { coupon(code: $c) { code status discount redeemedOrder { id } template { name } member { id } } }"
REFUND = "mutation($i: RefundOrderInput!) { refundOrder(input: $i) { errors { code field message } } }"
CHECKOUT = """mutation($i: CheckoutInput!) { checkout(input: $i) {
  order { id status listTotal discount total paid lines { id listAmount discount netAmount }
          breakdown { coupons { code discount } payments { method amount principal gift } } }
  errors { code field message } } }"""


async def create_template(demo, as_: str = "marketer", **fields) -> dict:
    spec = {"name": f"券{uuid.uuid4().hex[:6]}", "kind": "THRESHOLD_OFF", "threshold": 30000, "amountOff": 5000, "validDays": 30, **fields}
    result = (await demo.gql(CREATE, {"i": spec}, as_=as_))["createCouponTemplate"]
    assert result["errors"] == [], result
    return result["template"]


async def issue(demo, template_id: str, member_ids: list[str], *, key: str | None = None, as_: str = "marketer") -> dict:
    result = (await demo.gql(ISSUE, {"i": {"templateId": template_id, "memberIds": member_ids, "idempotencyKey": key or uuid.uuid4().hex}}, as_=as_))["issueCoupons"]
    assert result["errors"] == [], result
    return result


async def one_coupon(demo, member_id: str, **fields) -> dict:
    template = await create_template(demo, **fields)
    return (await issue(demo, template["id"], [member_id]))["coupons"][0]


async def pay(demo, order_id: str, payments: list[dict], codes: list[str], *, key: str | None = None, as_: str = "reception") -> dict:
    body = {"orderId": order_id, "payments": payments, "couponCodes": codes, "idempotencyKey": key or uuid.uuid4().hex}
    return (await demo.gql(CHECKOUT, {"i": body}, as_=as_))["checkout"]


async def service(demo, name: str, price: int) -> str:
    result = (await demo.gql(
        "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id } errors { code } } }",
        {"i": {"name": name, "price": price, "durationMinutes": 60, "category": "面部护理"}}, as_="owner",
    ))["createService"]
    assert result["errors"] == [], result
    return result["service"]["id"]


async def refund(demo, order_id: str, lines: list[dict] | None = None) -> dict:
    body = {"orderId": order_id, "reason": "顾客不满意", "idempotencyKey": uuid.uuid4().hex}
    if lines is not None:
        body["lines"] = lines
    return (await demo.gql(REFUND, {"i": body}, as_="manager"))["refundOrder"]
