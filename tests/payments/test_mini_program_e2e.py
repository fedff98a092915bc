"""The mini-program end to end over HTTP against a real `meiye serve --demo`: WeChat and Alipay
login through the built-in stand-ins, phone binding to the member the desk registered, buying a
count card with WeChat Pay whose signed callback arrives twice concurrently, an Alipay top-up,
forged callbacks, and the ledger verified afterwards."""

import asyncio
import os
import uuid

import httpx
import pytest

from tests.live_server import graphql, login, run_cli, sqlite_url, start_server
from tests.support import mp

pytestmark = pytest.mark.skipif(bool(os.environ.get("MEIYE_TEST_DATABASE_URL")), reason="runs in the SQLite half; the PostgreSQL half covers callbacks in-process")

ME = """{ me { id name phone points storedValueCards { id productName principal gift balance }
  countCards { id productName remaining } transactions { edges { node { kind amount balanceAfter } } } } }"""


@pytest.fixture
def server(tmp_path):
    srv = start_server(sqlite_url(tmp_path / "mp.db"), tmp_path / "server.log", demo=True)
    try:
        yield srv
    finally:
        srv.stop()


async def test_customer_binds_pays_and_is_credited_exactly_once(server, tmp_path):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        desk = await login(http, "reception")
        stores = (await graphql(http, "{ stores { id name } storedValueCardProducts { id name } }", token=desk))["data"]
        jingan = next(s["id"] for s in stores["stores"] if s["name"] == "静安店")
        gold = next(p["id"] for p in stores["storedValueCardProducts"] if p["name"] == "金卡")
        reg = await graphql(http, "mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code } } }",
                            {"i": {"name": "周琳", "phone": "13912345678", "storeId": jingan, "consent": True}}, token=desk)
        member_id = reg["data"]["registerMember"]["member"]["id"]
        await graphql(http, "mutation($i: TopUpInput!) { topUp(input: $i) { errors { code } } }",
                      {"i": {"memberId": member_id, "storeId": jingan, "amount": 100_000, "tender": "CASH", "idempotencyKey": "e2e-1", "cardProductId": gold}}, token=desk)

        logged = (await mp(http, 'mutation { wechatLogin(input: {code: "demo:o_zhoulin"}) { token member { id } errors { code } } }'))["wechatLogin"]
        assert logged["member"] is None and logged["errors"] == []
        wx = logged["token"]
        refused = (await mp(http, 'mutation { bindPhone(input: {phoneCode: "demo-phone:13912345678", consent: false}) { member { id } errors { code } } }', token=wx))["bindPhone"]
        assert refused["member"]["id"] == member_id  # an existing member needs no new consent
        me = (await mp(http, ME, token=wx))["me"]
        assert (me["name"], me["phone"]) == ("周琳", "13912345678")
        assert [(c["productName"], c["principal"], c["gift"], c["balance"]) for c in me["storedValueCards"]] == [("金卡", 100_000, 20_000, 120_000)]

        staff_view = (await graphql(http, "query($id: ID!) { member(id: $id) { storedValueCards { principal gift balance } } }", {"id": member_id}, token=desk))["data"]["member"]
        assert staff_view["storedValueCards"] == [{k: v for k, v in c.items() if k in ("principal", "gift", "balance")} for c in me["storedValueCards"]]

        ali = (await mp(http, 'mutation { alipayLogin(input: {authCode: "demo:2088000000000777"}) { token member { id } errors { code } } }'))["alipayLogin"]
        assert ali["errors"] == []
        ali_bound = (await mp(http, 'mutation { bindPhone(input: {phoneCode: "demo-phone:13912345678", consent: true}) { member { id } errors { code } } }', token=ali["token"]))["bindPhone"]
        assert ali_bound == {"member": {"id": member_id}, "errors": []}

        # A staff token is refused on /mp/graphql and a customer token on /graphql.
        body = (await http.post("/mp/graphql", json={"query": "{ me { id } }"}, headers={"authorization": f"Bearer {desk}"})).json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        body = (await http.post("/graphql", json={"query": "{ stores { id } }"}, headers={"authorization": f"Bearer {wx}"})).json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        products = (await mp(http, "query($s: ID) { countCardProducts(storeId: $s) { id name price } }", {"s": jingan}, token=wx))["countCardProducts"]
        facial = next(p for p in products if p["name"] == "面部清洁10次卡")
        buy = """mutation($i: BuyCountCardInput!) { buyCountCard(input: $i) { payment { id status amount outTradeNo
            wechatPayParams { appId timeStamp nonceStr package signType paySign } alipayTradeNo } countCard { id } errors { code } } }"""
        key = uuid.uuid4().hex
        bought = (await mp(http, buy, {"i": {"productId": facial["id"], "storeId": jingan, "payWith": "WECHAT", "idempotencyKey": key}}, token=wx))["buyCountCard"]
        assert bought["errors"] == [] and bought["countCard"] is None
        payment = bought["payment"]
        assert (payment["status"], payment["amount"]) == ("PENDING", 200_000)
        params = payment["wechatPayParams"]
        assert params["package"].startswith("prepay_id=") and params["signType"] == "RSA" and params["paySign"]
        again = (await mp(http, buy, {"i": {"productId": facial["id"], "storeId": jingan, "payWith": "WECHAT", "idempotencyKey": key}}, token=wx))["buyCountCard"]
        assert again["payment"]["id"] == payment["id"]
        wrong_channel = (await mp(http, buy, {"i": {"productId": facial["id"], "storeId": jingan, "payWith": "ALIPAY", "idempotencyKey": uuid.uuid4().hex}}, token=wx))["buyCountCard"]
        assert [e["code"] for e in wrong_channel["errors"]] == ["CHANNEL_MISMATCH"]

        # Forged callbacks change nothing and are answered as failures.
        forged = await http.post("/notify/wechatpay/wx0123456789abcdef", content=b'{"id":"x","resource":{}}', headers={"content-type": "application/json"})
        assert forged.status_code >= 400
        forged = await http.post("/notify/alipay/2021000000000001", content=b"out_trade_no=" + payment["outTradeNo"].encode() + b"&trade_status=TRADE_SUCCESS&sign=AAAA")
        assert forged.text != "success"
        assert (await mp(http, ME, token=wx))["me"]["countCards"] == []

        # The customer pays; the stand-in delivers the signed callback, twice at once.
        paid = await asyncio.gather(*[http.post(f"/_standins/wechatpay/demo/pay/{payment['outTradeNo']}") for _ in range(2)])
        assert all(r.status_code == 200 for r in paid), [r.text for r in paid]
        me = (await mp(http, ME, token=wx))["me"]
        assert [(c["productName"], c["remaining"]) for c in me["countCards"]] == [("面部清洁10次卡", 10)]
        status = (await mp(http, "query($id: ID!) { payment(id: $id) { status countCard { remaining } } }", {"id": payment["id"]}, token=wx))["payment"]
        assert status == {"status": "PAID", "countCard": {"remaining": 10}}

        # Alipay top-up from the same member's Alipay identity.
        top = """mutation($i: MpTopUpInput!) { topUp(input: $i) { payment { id status amount outTradeNo alipayTradeNo } errors { code } } }"""
        topped = (await mp(http, top, {"i": {"amount": 50_000, "storeId": jingan, "payWith": "ALIPAY", "idempotencyKey": uuid.uuid4().hex}}, token=ali["token"]))["topUp"]
        assert topped["errors"] == [] and topped["payment"]["alipayTradeNo"]
        await asyncio.gather(*[http.post(f"/_standins/alipay/demo/pay/{topped['payment']['outTradeNo']}") for _ in range(3)])
        me = (await mp(http, ME, token=ali["token"]))["me"]
        assert [(c["principal"], c["gift"]) for c in me["storedValueCards"]] == [(150_000, 20_000)]
        assert [e["node"]["kind"] for e in me["transactions"]["edges"]] == ["TOP_UP", "TOP_UP"]

    verified = run_cli("ledger", "verify", "--database", sqlite_url(tmp_path / "mp.db"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
