"""Refunds of mini-program orders go back through WeChat Pay / Alipay (stand-ins on their own port,
signing like the platforms): owed in the ledger until the platform confirms them by callback or by
the worker's query, refused ones shown to finance and never recorded as returned, one platform
refund however often it is sent, and a refund the platform reports on its own flagged for finance."""

import asyncio
import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text, update
from starlette.applications import Starlette

from domain.db import read_transaction, write_transaction
from domain.members.customers import Channel
from domain.payments.refunds import platform_refunds
from integrations import refunds as sender
from integrations import worker
from integrations.demo import DemoStandins
from integrations.runtime import build_registry
from integrations.standins import StandIns, StandInServer, generate_demo_keys
from resolvers.ids import to_global_id
from schema.app import create_app, make_services
from tests.support import GraphQLClient, assert_ledger_ok

FACIAL = "面部清洁10次卡"
PRICE = 200_000
BUY = """mutation($i: BuyCountCardInput!) { buyCountCard(input: $i) { payment { id status amount outTradeNo } errors { code } } }"""
REFUND = """mutation($i: RefundOrderInput!) { refundOrder(input: $i) { refund { id amount status
  platformRefunds { outTradeNo outRefundNo amount status platformStatus detail unsolicited } order { status refunded } } errors { code field } } }"""
FINANCE = """query($s: PlatformRefundStatus) { platformRefunds(status: $s) { channel outTradeNo outRefundNo amount status platformStatus
  unsolicited detail refundId } }"""


@pytest.fixture(scope="module")
def standins():
    platforms = StandIns(generate_demo_keys())
    server = StandInServer(Starlette(routes=platforms.routes())).start()
    yield platforms, server
    server.stop()


@pytest.fixture
async def mp(demo, settings, engine, standins):
    platforms, server = standins
    platforms.wechatpay.refund_mode, platforms.wechatpay.refund_refusal = "PROCESSING", None
    platforms.alipay.refund_mode, platforms.alipay.refund_refusal = "SYNC", None
    brand_id = await _scalar(engine, "SELECT brand_id FROM staff WHERE username = 'owner'")
    config = DemoStandins(server.base_url, platforms)
    rows = [{"brand_id": brand_id, "channel": c, "app_id": config.config(c)["app_id"], "merchant_id": None, "config": config.config(c)} for c in Channel]
    registry = build_registry(rows, "http://meiye.test")
    app = create_app(settings, engine=engine, platforms=registry)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meiye.test") as http:
            services = make_services(settings, engine)
            services.platforms = registry
            mp = Mp(http, platforms, services, demo, engine)
            mp.platforms_base = server.base_url
            yield mp


class Mp:
    def __init__(self, http, platforms, services, demo, engine):
        self.http, self.platforms, self.services, self.demo, self.engine = http, platforms, services, demo, engine
        self.gql = GraphQLClient(http, path="/mp/graphql")
        # The desk on the same app, so that the refund's after-commit step reaches the stand-ins.
        self.staff = GraphQLClient(http, tokens=demo.gql.tokens)

    async def paid_order(self, channel: Channel) -> tuple[str, str]:
        """A customer buys the facial card in the mini-program and pays: (out_trade_no, order id)."""
        tag = uuid.uuid4()
        if channel == Channel.WECHAT:
            token = (await self.gql(f'mutation {{ wechatLogin(input: {{code: "demo:o_{tag.hex[:8]}"}}) {{ token }} }}'))["wechatLogin"]["token"]
            phone_code = f"demo-phone:139{tag.int % 10**8:08d}"
        else:
            token = (await self.gql(f'mutation {{ alipayLogin(input: {{authCode: "demo:2088{tag.int % 10**12:012d}"}}) {{ token }} }}'))["alipayLogin"]["token"]
            phone_code = self.platforms.alipay.phone_response_for(f"139{tag.int % 10**8:08d}")
        bound = await self.gql("mutation($c: String!) { bindPhone(input: {phoneCode: $c, consent: true}) { errors { code } } }", {"c": phone_code}, token=token)
        assert bound["bindPhone"]["errors"] == [], bound
        data = await self.gql(BUY, {"i": {"productId": self.demo.count_card_products[FACIAL], "storeId": self.demo.jingan, "payWith": channel.value,
                                          "idempotencyKey": uuid.uuid4().hex}}, token=token)
        assert data["buyCountCard"]["errors"] == [], data
        no = data["buyCountCard"]["payment"]["outTradeNo"]
        if channel == Channel.WECHAT:
            self.platforms.wechatpay.mark_paid(no)
            assert (await self.post_wechat(*self.platforms.wechatpay.callback_for(no))).status_code == 204
        else:
            self.platforms.alipay.mark_paid(no)
            assert (await self.post_alipay(self.platforms.alipay.notify_for(no))).text == "success"
        order_id = await _scalar(self.engine, "SELECT o.id FROM orders o JOIN transfers t ON t.id = o.transfer_id WHERE t.reference = :r", r=f"intent:{no}")
        return no, to_global_id("Order", order_id)

    async def refund(self, order_id: str, key: str | None = None) -> dict:
        data = await self.staff(REFUND, {"i": {"orderId": order_id, "reason": "顾客不满意", "idempotencyKey": key or uuid.uuid4().hex}}, as_="owner")
        assert data["refundOrder"]["errors"] == [], data
        return data["refundOrder"]["refund"]

    async def finance(self, status: str | None = None) -> list[dict]:
        return (await self.staff(FINANCE, {"s": status}, as_="finance"))["platformRefunds"]

    async def post_wechat(self, headers: dict, body: bytes) -> httpx.Response:
        return await self.http.post(f"/notify/wechatpay/{self.platforms.wechatpay.app_id}", content=body, headers=headers)

    async def post_alipay(self, body: str) -> httpx.Response:
        return await self.http.post(f"/notify/alipay/{self.platforms.alipay.app_id}", content=body.encode(),
                                    headers={"content-type": "application/x-www-form-urlencoded"})

    async def balances(self, channel: Channel) -> tuple[int, int]:
        """(owed back through the platform, the store's tender account) for the channel at 静安店, each
        over all its shards (domain.ledger.store_accounts)."""
        async with read_transaction(self.engine) as db:
            rows = dict((await db.execute(text("SELECT code, balance FROM accounts WHERE code LIKE :p OR code LIKE :s"),
                                          {"p": f"store:%:%:{channel.value}", "s": f"store:%:%:{channel.value}#%"})).all())
        owed = sum(v for k, v in rows.items() if ":platform_refund_payable:" in k)
        tender = sum(v for k, v in rows.items() if ":store_tender:" in k)
        return owed, tender

    async def make_due(self) -> None:
        async with write_transaction(self.engine) as db:
            await db.execute(update(platform_refunds).values(next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))


async def _scalar(engine, sql: str, **params):
    async with read_transaction(engine) as db:
        return await db.scalar(text(sql), params)


async def _transfers(engine, kind: str) -> int:
    return await _scalar(engine, "SELECT count(*) FROM transfers WHERE kind = :k", k=kind)


async def test_wechat_refund_is_owed_until_the_refund_callback_confirms_it(mp, engine):
    no, order_id = await mp.paid_order(Channel.WECHAT)
    assert await mp.balances(Channel.WECHAT) == (0, PRICE)
    refund = await mp.refund(order_id)
    assert (refund["amount"], refund["status"], refund["order"]) == (PRICE, "PLATFORM_PENDING", {"status": "REFUNDED", "refunded": PRICE})
    [owed] = refund["platformRefunds"]
    assert (owed["outTradeNo"], owed["amount"], owed["status"], owed["platformStatus"]) == (no, PRICE, "PENDING", "PROCESSING")
    asked = mp.platforms.wechatpay.refunds[owed["outRefundNo"]]
    assert (asked["out_trade_no"], asked["refund"], asked["total"]) == (no, PRICE, PRICE)
    # Not returned to the customer yet: the money sits in the payable account.
    assert await mp.balances(Channel.WECHAT) == (PRICE, PRICE)
    assert [(r["outRefundNo"], r["status"]) for r in await mp.finance("PENDING")] == [(owed["outRefundNo"], "PENDING")]
    await assert_ledger_ok(engine)

    headers, body = mp.platforms.wechatpay.settle_refund(owed["outRefundNo"], "SUCCESS")
    replies = await asyncio.gather(*[mp.post_wechat(headers, body) for _ in range(5)])
    assert {r.status_code for r in replies} == {204}
    assert await mp.balances(Channel.WECHAT) == (0, 0)
    assert await _transfers(engine, "PLATFORM_REFUND") == 1
    assert await mp.finance("PENDING") == []
    [done] = await mp.finance("SUCCEEDED")
    assert (done["amount"], done["platformStatus"], done["unsolicited"]) == (PRICE, "SUCCESS", False)
    assert await _scalar(engine, "SELECT status FROM payment_intents WHERE out_trade_no = :n", n=no) == "REFUNDED"
    await assert_ledger_ok(engine)


async def test_wechat_refund_confirmed_by_the_workers_query(mp, engine):
    no, order_id = await mp.paid_order(Channel.WECHAT)
    [owed] = (await mp.refund(order_id))["platformRefunds"]
    assert (await worker.run_once(mp.services))["refunds_sent"] == 0  # not due yet
    await mp.make_due()
    assert (await worker.run_once(mp.services))["refunds_succeeded"] == 0  # still processing
    assert await mp.balances(Channel.WECHAT) == (PRICE, PRICE)
    mp.platforms.wechatpay.settle_refund(owed["outRefundNo"], "SUCCESS")  # the callback is lost
    await mp.make_due()
    passes = await asyncio.gather(worker.run_once(mp.services), worker.run_once(mp.services))
    assert sum(p["refunds_succeeded"] for p in passes) == 1, passes
    assert await mp.balances(Channel.WECHAT) == (0, 0)
    assert await _transfers(engine, "PLATFORM_REFUND") == 1
    await assert_ledger_ok(engine)


async def test_alipay_refund_succeeds_at_once_or_by_callback_or_by_query(mp, engine):
    # Alipay usually refunds synchronously (fund_change Y).
    no, order_id = await mp.paid_order(Channel.ALIPAY)
    refund = await mp.refund(order_id)
    assert refund["status"] == "COMPLETED" and refund["platformRefunds"][0]["status"] == "SUCCEEDED", refund
    assert mp.platforms.alipay.refunds[(no, refund["platformRefunds"][0]["outRefundNo"])]["amount"] == PRICE
    assert await mp.balances(Channel.ALIPAY) == (0, 0)
    await assert_ledger_ok(engine)

    # Still processing (fund_change N): the refund notification confirms it.
    mp.platforms.alipay.refund_mode = "PENDING"
    no, order_id = await mp.paid_order(Channel.ALIPAY)
    [owed] = (await mp.refund(order_id))["platformRefunds"]
    assert (owed["status"], owed["platformStatus"]) == ("PENDING", "FUND_CHANGE_N")
    assert await mp.balances(Channel.ALIPAY) == (PRICE, PRICE)
    note = mp.platforms.alipay.settle_refund(no, owed["outRefundNo"])
    assert [r.text for r in await asyncio.gather(mp.post_alipay(note), mp.post_alipay(note))] == ["success", "success"]
    assert await mp.balances(Channel.ALIPAY) == (0, 0)
    await assert_ledger_ok(engine)

    # …or, the notification lost, the worker's alipay.trade.fastpay.refund.query.
    no, order_id = await mp.paid_order(Channel.ALIPAY)
    [owed] = (await mp.refund(order_id))["platformRefunds"]
    mp.platforms.alipay.settle_refund(no, owed["outRefundNo"])
    await mp.make_due()
    assert (await worker.run_once(mp.services))["refunds_succeeded"] == 1
    assert await mp.balances(Channel.ALIPAY) == (0, 0)
    assert await _transfers(engine, "PLATFORM_REFUND") == 3
    assert await mp.finance("PENDING") == []
    await assert_ledger_ok(engine)


async def test_refused_refunds_are_shown_to_finance_and_never_recorded_as_returned(mp, engine):
    # WeChat answers an error (the merchant's balance is short): FAILED, the money still owed.
    mp.platforms.wechatpay.refund_refusal = (403, "NOT_ENOUGH", "基本账户余额不足")
    _, refused_order = await mp.paid_order(Channel.WECHAT)
    refund = await mp.refund(refused_order)
    assert refund["status"] == "PLATFORM_FAILED"
    assert [(r["status"], r["platformStatus"]) for r in refund["platformRefunds"]] == [("FAILED", "NOT_ENOUGH")]
    mp.platforms.wechatpay.refund_refusal = None
    # A refund WeChat accepted and then reports ABNORMAL (the customer's account is closed).
    _, abnormal_order = await mp.paid_order(Channel.WECHAT)
    [abnormal] = (await mp.refund(abnormal_order))["platformRefunds"]
    assert (await mp.post_wechat(*mp.platforms.wechatpay.settle_refund(abnormal["outRefundNo"], "ABNORMAL"))).status_code == 204
    # …and one WeChat closes, found by the worker's query.
    _, closed_order = await mp.paid_order(Channel.WECHAT)
    [closed] = (await mp.refund(closed_order))["platformRefunds"]
    mp.platforms.wechatpay.settle_refund(closed["outRefundNo"], "CLOSED")
    await mp.make_due()
    assert (await worker.run_once(mp.services))["refunds_failed"] == 1
    # Alipay refuses outright.
    mp.platforms.alipay.refund_refusal = ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
    _, alipay_order = await mp.paid_order(Channel.ALIPAY)
    assert (await mp.refund(alipay_order))["status"] == "PLATFORM_FAILED"

    failed = await mp.finance("FAILED")
    assert sorted((r["channel"], r["platformStatus"], r["amount"]) for r in failed) == [
        ("ALIPAY", "ACQ.SELLER_BALANCE_NOT_ENOUGH", PRICE), ("WECHAT", "ABNORMAL", PRICE), ("WECHAT", "CLOSED", PRICE), ("WECHAT", "NOT_ENOUGH", PRICE)]
    assert all(r["refundId"] and r["detail"] for r in failed)
    assert await mp.balances(Channel.WECHAT) == (3 * PRICE, 3 * PRICE)
    assert await mp.balances(Channel.ALIPAY) == (PRICE, PRICE)
    assert await _transfers(engine, "PLATFORM_REFUND") == 0
    # A refused refund is finance's: the worker does not send it again.
    await mp.make_due()
    assert (await worker.run_once(mp.services))["refunds_sent"] == 0
    await assert_ledger_ok(engine)


async def test_a_platform_that_cannot_answer_now_is_asked_again(mp, engine):
    mp.platforms.wechatpay.refund_refusal = (500, "SYSTEM_ERROR", "系统繁忙")
    _, order_id = await mp.paid_order(Channel.WECHAT)
    [owed] = (await mp.refund(order_id))["platformRefunds"]
    assert (owed["status"], owed["detail"]) == ("PENDING", "SYSTEM_ERROR: 系统繁忙")
    mp.platforms.wechatpay.refund_refusal = None
    mp.platforms.wechatpay.refund_mode = "SUCCESS"
    await mp.make_due()
    assert (await worker.run_once(mp.services))["refunds_succeeded"] == 1
    assert len(mp.platforms.wechatpay.refunds) >= 1 and mp.platforms.wechatpay.refunds[owed["outRefundNo"]]["refund"] == PRICE
    assert await mp.balances(Channel.WECHAT) == (0, 0)
    await assert_ledger_ok(engine)


async def test_the_same_refund_sent_twice_is_one_platform_refund(mp, engine):
    no, order_id = await mp.paid_order(Channel.WECHAT)
    key = uuid.uuid4().hex
    first, again = await mp.refund(order_id, key), await mp.refund(order_id, key)
    assert first["id"] == again["id"] and first["platformRefunds"] == again["platformRefunds"]
    assert await _scalar(engine, "SELECT count(*) FROM platform_refunds") == 1
    [owed] = first["platformRefunds"]
    # Lost answers: the refund is sent again and again, from several senders at once.
    for _ in range(2):
        async with write_transaction(engine) as db:
            await db.execute(update(platform_refunds).values(sent=0))
        await mp.make_due()
        await asyncio.gather(worker.run_once(mp.services), sender.send_due(mp.services), sender.send_due(mp.services))
    requests = [r for r in mp.platforms.wechatpay.refund_requests if r["out_refund_no"] == owed["outRefundNo"]]
    assert len(requests) >= 3
    assert [k for k, r in mp.platforms.wechatpay.refunds.items() if r["out_trade_no"] == no] == [owed["outRefundNo"]]
    headers, body = mp.platforms.wechatpay.settle_refund(owed["outRefundNo"])
    assert (await mp.post_wechat(headers, body)).status_code == 204
    await mp.make_due()
    await worker.run_once(mp.services)
    assert await _transfers(engine, "PLATFORM_REFUND") == 1
    assert await mp.balances(Channel.WECHAT) == (0, 0)
    await assert_ledger_ok(engine)


async def test_a_refund_the_platform_reports_on_its_own_is_flagged_for_finance(mp, engine):
    wx_no, _ = await mp.paid_order(Channel.WECHAT)
    headers, body = mp.platforms.wechatpay.refund_callback_for(wx_no, refund_amount=50_000, out_refund_no="CONSOLE0001")
    assert (await mp.post_wechat(headers, body)).status_code == 204
    assert (await mp.post_wechat(headers, body)).status_code == 204
    ali_no, _ = await mp.paid_order(Channel.ALIPAY)
    note = mp.platforms.alipay.notify_for(ali_no, trade_status="TRADE_SUCCESS", refund_fee=30_000, out_biz_no="CONSOLE0002")
    assert (await mp.post_alipay(note)).text == "success"

    flagged = sorted((r["channel"], r["outTradeNo"], r["outRefundNo"], r["amount"], r["status"], r["unsolicited"], r["refundId"])
                     for r in await mp.finance())
    assert flagged == [("ALIPAY", ali_no, "CONSOLE0002", 30_000, "SUCCEEDED", True, None),
                       ("WECHAT", wx_no, "CONSOLE0001", 50_000, "SUCCEEDED", True, None)]
    assert await _scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'REFUND_UNSOLICITED'") == 2
    assert await _scalar(engine, "SELECT refunded FROM payment_intents WHERE out_trade_no = :n", n=wx_no) == 50_000
    # Nothing moves in the ledger on the platform's word alone: finance decides what it was.
    assert await _transfers(engine, "PLATFORM_REFUND") == 0
    assert await mp.balances(Channel.WECHAT) == (0, PRICE)
    await assert_ledger_ok(engine)


async def test_a_desk_refund_of_a_desk_wechat_payment_is_not_sent_to_the_platform(mp, engine):
    """WeChat taken at the desk (a terminal, not the mini-program) is refunded at the desk as before."""
    from tests.support import checkout, open_order

    order = await open_order(mp.demo, [{"serviceId": mp.demo.services["洗剪吹"]["id"]}])
    paid = await checkout(mp.demo, order["id"], [{"method": "WECHAT"}])
    assert paid["errors"] == [], paid
    refund = await mp.refund(order["id"])
    assert (refund["status"], refund["platformRefunds"]) == ("COMPLETED", [])
    assert await mp.balances(Channel.WECHAT) == (0, 0)
    await assert_ledger_ok(engine)


async def test_the_demo_refund_control_refuses_unknown_refunds(mp, engine):
    """POST /_standins/wechatpay/demo/refund/{no} finishes a refund in demo mode (its callback goes to
    the notify URL, unreachable from here); an unknown refund or status is a 404, never a 500."""
    _, order_id = await mp.paid_order(Channel.WECHAT)
    [owed] = (await mp.refund(order_id))["platformRefunds"]
    async with httpx.AsyncClient(base_url=mp.platforms_base) as platform:
        assert (await platform.post("/_standins/wechatpay/demo/refund/RF-UNKNOWN")).status_code == 404
        assert (await platform.post(f"/_standins/wechatpay/demo/refund/{owed['outRefundNo']}?status=BOGUS")).status_code == 404
    assert mp.platforms.wechatpay.refunds[owed["outRefundNo"]]["status"] == "PROCESSING"
    await assert_ledger_ok(engine)
