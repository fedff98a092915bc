"""Payment callbacks, active queries and bill fixes on the real database (parallel connections on
PostgreSQL): each payment is credited exactly once whatever arrives, twice, concurrently, late or
out of order; forged, tampered, stale and mismatched ones change nothing but a finance flag."""

import asyncio
import base64
import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import select, text, update
from starlette.applications import Starlette

from domain.db import read_transaction, write_transaction
from domain.members.customers import Channel
from domain.payments.intents import payment_intents
from domain.payments.types import EventKind, TradeState
from integrations import worker
from integrations.bills import BillRow
from integrations.demo import DemoStandins
from integrations.runtime import build_registry
from integrations.standins import StandIns, StandInServer, generate_demo_keys
from integrations.standins.bills import build_wechat_trade_bill
from schema.app import create_app, make_services
from tests.support import GraphQLClient, assert_ledger_ok

ME = "{ me { id storedValueCards { principal gift } countCards { productName remaining } } }"
BUY = """mutation($i: BuyCountCardInput!) { buyCountCard(input: $i) { payment { id status amount outTradeNo } errors { code } } }"""
TOP_UP = """mutation($i: MpTopUpInput!) { topUp(input: $i) { payment { id status amount outTradeNo alipayTradeNo } errors { code } } }"""


@pytest.fixture(scope="module")
def standins():
    platforms = StandIns(generate_demo_keys())
    server = StandInServer(Starlette(routes=platforms.routes())).start()
    yield platforms, server
    server.stop()


@pytest.fixture
async def mp(demo, settings, engine, standins):
    """A second app on the same database whose platforms are the stand-ins on their own port."""
    platforms, server = standins
    brand_id = (await _scalar(engine, "SELECT brand_id FROM staff WHERE username = 'owner'"))
    demo_config = DemoStandins(server.base_url, platforms)
    rows = [{"brand_id": brand_id, "channel": c, "app_id": demo_config.config(c)["app_id"], "merchant_id": None, "config": demo_config.config(c)} for c in Channel]
    registry = build_registry(rows, "http://meiye.test")
    app = create_app(settings, engine=engine, platforms=registry)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meiye.test") as http:
            services = make_services(settings, engine)
            services.platforms = registry
            yield Mp(http, GraphQLClient(http, path="/mp/graphql"), platforms, services, demo)


class Mp:
    def __init__(self, http, gql, platforms, services, demo):
        self.http, self.gql, self.platforms, self.services, self.demo = http, gql, platforms, services, demo

    async def customer(self, channel: Channel, phone: str = "13800138000") -> str:
        if channel == Channel.WECHAT:
            token = (await self.gql(f'mutation {{ wechatLogin(input: {{code: "demo:o_{uuid.uuid4().hex[:8]}"}}) {{ token }} }}'))["wechatLogin"]["token"]
        else:
            token = (await self.gql(f'mutation {{ alipayLogin(input: {{authCode: "demo:2088{uuid.uuid4().int % 10**12:012d}"}}) {{ token }} }}'))["alipayLogin"]["token"]
            phone_code = self.platforms.alipay.phone_response_for(phone)
            bound = (await self.gql("mutation($c: String!) { bindPhone(input: {phoneCode: $c, consent: true}) { member { id } errors { code } } }", {"c": phone_code}, token=token))["bindPhone"]
            assert bound["errors"] == [], bound
            return token
        bound = (await self.gql(f'mutation {{ bindPhone(input: {{phoneCode: "demo-phone:{phone}", consent: true}}) {{ member {{ id }} errors {{ code }} }} }}', token=token))["bindPhone"]
        assert bound["errors"] == [], bound
        return token

    async def buy_facial(self, token: str) -> dict:
        data = await self.gql(BUY, {"i": {"productId": self.demo.count_card_products["面部清洁10次卡"], "storeId": self.demo.jingan, "payWith": "WECHAT",
                                          "idempotencyKey": uuid.uuid4().hex}}, token=token)
        assert data["buyCountCard"]["errors"] == [], data
        return data["buyCountCard"]["payment"]

    async def post_wechat(self, headers: dict, body: bytes) -> httpx.Response:
        return await self.http.post(f"/notify/wechatpay/{self.platforms.wechatpay.app_id}", content=body, headers=headers)

    async def post_alipay(self, body: str) -> httpx.Response:
        return await self.http.post(f"/notify/alipay/{self.platforms.alipay.app_id}", content=body.encode(),
                                    headers={"content-type": "application/x-www-form-urlencoded"})

    async def count_cards(self, token: str) -> list:
        return (await self.gql(ME, token=token))["me"]["countCards"]


async def _scalar(engine, sql: str, **params):
    async with read_transaction(engine) as db:
        return await db.scalar(text(sql), params)


async def test_wechat_callback_twenty_times_at_once_credits_once(mp, engine):
    token = await mp.customer(Channel.WECHAT)
    payment = await mp.buy_facial(token)
    headers, body = mp.platforms.wechatpay.callback_for(payment["outTradeNo"])
    replies = await asyncio.gather(*[mp.post_wechat(headers, body) for _ in range(20)])
    assert {r.status_code for r in replies} == {204}
    assert await mp.count_cards(token) == [{"productName": "面部清洁10次卡", "remaining": 10}]
    # The same payment reported again under a new notification id, later: still once.
    headers, body = mp.platforms.wechatpay.callback_for(payment["outTradeNo"], event_id=str(uuid.uuid4()))
    assert (await mp.post_wechat(headers, body)).status_code == 204
    assert len(await mp.count_cards(token)) == 1
    assert await _scalar(engine, "SELECT count(*) FROM payment_events WHERE out_trade_no = :n", n=payment["outTradeNo"]) == 2
    await assert_ledger_ok(engine)


async def test_forged_tampered_stale_and_mismatched_callbacks_change_nothing(mp, engine):
    token = await mp.customer(Channel.WECHAT)
    payment = await mp.buy_facial(token)
    headers, body = mp.platforms.wechatpay.callback_for(payment["outTradeNo"])
    tampered = body.replace(b'"ciphertext":"', b'"ciphertext":"A')
    stale_headers, stale_body = mp.platforms.wechatpay.callback_for(payment["outTradeNo"], timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6))
    probe = {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"][:20]}
    no_type = {k: v for k, v in headers.items() if k.lower() != "wechatpay-signature-type"}
    for h, b in ((headers, tampered), (stale_headers, stale_body), (probe, body), (no_type, body), ({}, body)):
        reply = await mp.post_wechat(h, b)
        assert reply.status_code >= 400, reply.text
    assert await mp.count_cards(token) == []
    assert await _scalar(engine, "SELECT count(*) FROM payment_events") == 0

    wrong_amount = mp.platforms.wechatpay.callback_for(payment["outTradeNo"], amount=1)
    assert (await mp.post_wechat(*wrong_amount)).status_code == 204  # verified: answered, never credited
    other_merchant = mp.platforms.wechatpay.callback_for(payment["outTradeNo"], mchid="1900000999", event_id=str(uuid.uuid4()))
    assert (await mp.post_wechat(*other_merchant)).status_code == 204
    assert await mp.count_cards(token) == []
    status = (await mp.gql("query($id: ID!) { payment(id: $id) { status } }", {"id": payment["id"]}, token=token))["payment"]["status"]
    assert status == "PENDING"
    flag = await _scalar(engine, "SELECT flag FROM payment_intents WHERE out_trade_no = :n", n=payment["outTradeNo"])
    assert flag is not None and "amount 1 != 200000" in flag or "merchant" in flag
    assert await _scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'MISMATCH'") == 2
    await assert_ledger_ok(engine)


async def test_alipay_success_and_finished_out_of_order_and_concurrent_credit_once(mp, engine):
    token = await mp.customer(Channel.ALIPAY)
    data = await mp.gql(TOP_UP, {"i": {"amount": 100_000, "storeId": mp.demo.jingan, "payWith": "ALIPAY", "idempotencyKey": "a1"}}, token=token)
    payment = data["topUp"]["payment"]
    assert data["topUp"]["errors"] == [] and payment["alipayTradeNo"]
    mp.platforms.alipay.mark_paid(payment["outTradeNo"])
    finished = mp.platforms.alipay.notify_for(payment["outTradeNo"], trade_status="TRADE_FINISHED")
    success = mp.platforms.alipay.notify_for(payment["outTradeNo"], trade_status="TRADE_SUCCESS")
    forged = success.replace("TRADE_SUCCESS", "TRADE_FINISHED")
    assert (await mp.post_alipay(forged)).text != "success"
    replies = await asyncio.gather(*[mp.post_alipay(b) for b in (finished, success, finished, success, success)])
    assert [r.text for r in replies] == ["success"] * 5
    cards = (await mp.gql(ME, token=token))["me"]["storedValueCards"]
    # 张小美's 金卡 had 100000 + 20000 from the demo seed; 充1000送200 once more.
    assert cards == [{"principal": 200_000, "gift": 40_000}]
    await assert_ledger_ok(engine)


async def test_worker_queries_pending_intents_closes_expired_ones_and_late_callbacks_still_credit(mp, engine):
    token = await mp.customer(Channel.WECHAT)
    paid_silently = await mp.buy_facial(token)
    expired = await mp.buy_facial(token)
    mp.platforms.wechatpay.mark_paid(paid_silently["outTradeNo"])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with write_transaction(engine) as db:
        await db.execute(update(payment_intents).values(next_query_at=past))
        await db.execute(update(payment_intents).where(payment_intents.c.out_trade_no == expired["outTradeNo"]).values(expires_at=past))
    passes = await asyncio.gather(worker.run_once(mp.services), worker.run_once(mp.services))
    assert sum(p["applied"] for p in passes) == 1 and sum(p["closed"] for p in passes) == 1, passes
    assert len(await mp.count_cards(token)) == 1
    async with read_transaction(engine) as db:
        states = dict((await db.execute(select(payment_intents.c.out_trade_no, payment_intents.c.status))).all())
    assert (states[paid_silently["outTradeNo"]], states[expired["outTradeNo"]]) == ("PAID", "CLOSED")

    # The customer paid just before the close: the late callback still credits, once.
    mp.platforms.wechatpay.mark_paid(expired["outTradeNo"])
    late = mp.platforms.wechatpay.callback_for(expired["outTradeNo"])
    assert (await mp.post_wechat(*late)).status_code == 204
    assert len(await mp.count_cards(token)) == 2
    await assert_ledger_ok(engine)


async def test_finance_reconciles_a_bill_and_fixes_paid_there_pending_here(mp, engine):
    token = await mp.customer(Channel.WECHAT)
    payment = await mp.buy_facial(token)
    mp.platforms.wechatpay.mark_paid(payment["outTradeNo"])
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    bill = build_wechat_trade_bill([
        BillRow(channel=Channel.WECHAT, kind=EventKind.PAYMENT, out_trade_no=payment["outTradeNo"], platform_trade_no="4200000000202611230001",
                amount=200_000, status=TradeState.PAID, app_id=mp.platforms.wechatpay.app_id, merchant_id=mp.platforms.wechatpay.mch_id,
                traded_at=dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))),
    ], day=today)
    query = """mutation($i: ReconcileBillInput!) { reconcileBill(input: $i) { report { clean fixed billPaid ourPaid
      statusDiffers { count items { outTradeNo ourStatus theirStatus fixable } } matched { count } } errors { code field } } }"""
    variables = {"i": {"channel": "WECHAT", "date": today.isoformat(), "bill": base64.b64encode(bill).decode(), "fix": False}}
    report = (await mp.demo.gql(query, variables, as_="finance"))["reconcileBill"]["report"]
    assert (report["clean"], report["fixed"], report["billPaid"], report["ourPaid"]) == (False, 0, 200_000, 0)
    assert report["statusDiffers"]["items"] == [{"outTradeNo": payment["outTradeNo"], "ourStatus": "PENDING", "theirStatus": "PAID", "fixable": True}]
    variables["i"]["fix"] = True
    fixed = (await mp.demo.gql(query, variables, as_="finance"))["reconcileBill"]["report"]
    assert fixed["fixed"] == 1
    assert len(await mp.count_cards(token)) == 1
    again = (await mp.demo.gql(query, variables, as_="finance"))["reconcileBill"]["report"]
    assert (again["clean"], again["fixed"], again["matched"]["count"]) == (True, 0, 1)
    bad = (await mp.demo.gql(query, {"i": {**variables["i"], "bill": "not base64!"}}, as_="finance"))["reconcileBill"]
    assert bad["errors"] == [{"code": "INVALID_VALUE", "field": "bill"}]
    denied = await mp.demo.gql.raw(query, variables, as_="reception")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await assert_ledger_ok(engine)


async def test_a_customer_sees_only_their_own_payments_and_membership(mp):
    mine = await mp.customer(Channel.WECHAT, phone="13800138000")
    payment = await mp.buy_facial(mine)
    theirs = await mp.customer(Channel.WECHAT, phone="13900139000")  # 李娜 of the demo brand
    assert (await mp.gql("query($id: ID!) { payment(id: $id) { id } }", {"id": payment["id"]}, token=theirs))["payment"] is None
    me = (await mp.gql("{ me { name phone } }", token=theirs))["me"]
    assert me == {"name": "李娜", "phone": "13900139000"}
    unbound = (await mp.gql('mutation { wechatLogin(input: {code: "demo:o_stranger"}) { token } }'))["wechatLogin"]["token"]
    assert (await mp.gql("{ me { id } }", token=unbound))["me"] is None
    refused = (await mp.gql(BUY, {"i": {"productId": mp.demo.count_card_products["面部清洁10次卡"], "storeId": mp.demo.jingan, "payWith": "WECHAT",
                                        "idempotencyKey": "x"}}, token=unbound))["buyCountCard"]
    assert refused["errors"] == [{"code": "NOT_BOUND"}]
    body = await mp.gql.raw("{ me { id } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_new_customers_first_top_up_opens_the_brands_default_card(mp, engine):
    token = await mp.customer(Channel.WECHAT, phone="13600136000")  # registers a new member (consent given)
    assert (await mp.gql("{ me { storedValueCards { productName } } }", token=token))["me"]["storedValueCards"] == []
    data = await mp.gql(TOP_UP, {"i": {"amount": 50_000, "storeId": mp.demo.xuhui, "payWith": "WECHAT", "idempotencyKey": "first"}}, token=token)
    payment = data["topUp"]["payment"]
    assert (await mp.post_wechat(*mp.platforms.wechatpay.callback_for(payment["outTradeNo"]))).status_code == 204
    cards = (await mp.gql("{ me { storedValueCards { productName principal gift } } }", token=token))["me"]["storedValueCards"]
    # The demo brand's default is 银卡: 充500送50.
    assert cards == [{"productName": "银卡", "principal": 50_000, "gift": 5_000}]
    settings = "mutation($i: UpdateBrandSettingsInput!) { updateBrandSettings(input: $i) { brand { defaultCardProductId } errors { code field } } }"
    changed = (await mp.demo.gql(settings, {"i": {"defaultCardProductId": mp.demo.products["金卡"]}}, as_="owner"))["updateBrandSettings"]
    assert changed == {"brand": {"defaultCardProductId": mp.demo.products["金卡"]}, "errors": []}
    unknown = (await mp.demo.gql(settings, {"i": {"defaultCardProductId": "U3RvcmVkVmFsdWVDYXJkUHJvZHVjdDo5OTk="}}, as_="owner"))["updateBrandSettings"]
    assert unknown["errors"] == [{"code": "NOT_FOUND", "field": "defaultCardProductId"}]
    await assert_ledger_ok(engine)


async def test_a_paid_top_up_that_cannot_be_delivered_is_kept_and_flagged_not_lost(mp, engine):
    token = await mp.customer(Channel.WECHAT)  # 张小美, whose 金卡 the desk freezes after she starts paying
    data = await mp.gql(TOP_UP, {"i": {"amount": 10_000, "storeId": mp.demo.jingan, "payWith": "WECHAT", "idempotencyKey": "t1"}}, token=token)
    payment = data["topUp"]["payment"]
    card = (await mp.demo.gql("{ members(search: \"13800138000\") { edges { node { storedValueCards { id } } } } }", as_="manager"))["members"]["edges"][0]["node"]["storedValueCards"][0]["id"]
    await mp.demo.gql("mutation($i: FreezeCardInput!) { freezeCard(input: $i) { errors { code } } }", {"i": {"cardId": card, "reason": "挂失"}}, as_="manager")
    before = (await mp.gql("{ me { storedValueCards { principal gift } } }", token=token))["me"]["storedValueCards"]
    for _ in range(2):
        assert (await mp.post_wechat(*mp.platforms.wechatpay.callback_for(payment["outTradeNo"], event_id=str(uuid.uuid4())))).status_code == 204
    assert (await mp.gql("{ me { storedValueCards { principal gift } } }", token=token))["me"]["storedValueCards"] == before
    async with read_transaction(engine) as db:
        status, flag = (await db.execute(select(payment_intents.c.status, payment_intents.c.flag).where(payment_intents.c.out_trade_no == payment["outTradeNo"]))).one()
        outcomes = sorted((await db.execute(text("SELECT outcome FROM payment_events"))).scalars())
    assert (status, flag) == ("PAID", "PAID_NOT_DELIVERED: CARD_FROZEN")
    assert outcomes == ["DUPLICATE", "NOT_DELIVERED"]
    refused = await mp.gql(TOP_UP, {"i": {"amount": 10_000, "storeId": mp.demo.jingan, "payWith": "WECHAT", "idempotencyKey": "t2"}}, token=token)
    assert refused["topUp"]["errors"] == [{"code": "CARD_FROZEN"}]
    await assert_ledger_ok(engine)
