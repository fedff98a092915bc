"""`meiye serve --demo --workers 2`: the stand-ins run once for both workers, so a WeChat Pay order
made through one worker can be paid through the other, and its callback credits the member once.
SQLite on both halves of the suite: what is under test is the processes, not the database."""

import asyncio
import uuid

import httpx

from tests.live_server import graphql, login, run_cli, sqlite_url, start_server
from tests.support import mp

BUY = """mutation($i: BuyCountCardInput!) { buyCountCard(input: $i) { payment { id status outTradeNo } errors { code } } }"""
PURCHASES = 4


def fresh(server) -> httpx.AsyncClient:
    """A client of its own: a new connection, which either worker may accept."""
    return httpx.AsyncClient(base_url=server.base_url, timeout=30)


async def test_two_demo_workers_share_the_standins_and_credit_a_payment_once(tmp_path):
    db = sqlite_url(tmp_path / "workers.db")
    server = start_server(db, tmp_path / "server.log", demo=True, workers=2)
    try:
        async with fresh(server) as http:
            desk = await login(http, "reception")
            data = (await graphql(http, "{ stores { id name } }", token=desk))["data"]
            jingan = next(s["id"] for s in data["stores"] if s["name"] == "静安店")
            reg = await graphql(http, "mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code } } }",
                                {"i": {"name": "周琳", "phone": "13912345678", "storeId": jingan, "consent": True}}, token=desk)
            member_id = reg["data"]["registerMember"]["member"]["id"]
            wx = (await mp(http, 'mutation { wechatLogin(input: {code: "demo:o_zhoulin"}) { token errors { code } } }'))["wechatLogin"]["token"]
            bound = (await mp(http, 'mutation { bindPhone(input: {phoneCode: "demo-phone:13912345678", consent: true}) { member { id } } }', token=wx))
            assert bound["bindPhone"]["member"]["id"] == member_id
            products = (await mp(http, "query($s: ID) { countCardProducts(storeId: $s) { id name } }", {"s": jingan}, token=wx))["countCardProducts"]
            facial = next(p["id"] for p in products if p["name"] == "面部清洁10次卡")

        async def buy() -> dict:
            async with fresh(server) as http:
                bought = (await mp(http, BUY, {"i": {"productId": facial, "storeId": jingan, "payWith": "WECHAT",
                                                     "idempotencyKey": uuid.uuid4().hex}}, token=wx))["buyCountCard"]
            assert bought["errors"] == [] and bought["payment"]["status"] == "PENDING", bought
            return bought["payment"]

        async def pay(payment: dict) -> httpx.Response:
            async with fresh(server) as http:
                return await http.post(f"/_standins/wechatpay/demo/pay/{payment['outTradeNo']}")

        # Orders made through whichever worker took each connection, each paid three times at once
        # through whichever workers take those: with stand-ins per worker most of these would 404.
        payments = await asyncio.gather(*[buy() for _ in range(PURCHASES)])
        paid = await asyncio.gather(*[pay(p) for p in payments for _ in range(3)])
        assert all(r.status_code == 200 for r in paid), [(r.status_code, r.text) for r in paid]

        async with fresh(server) as http:
            cards = (await mp(http, "{ me { countCards { productName remaining } } }", token=wx))["me"]["countCards"]
            assert cards == [{"productName": "面部清洁10次卡", "remaining": 10}] * PURCHASES
            for p in payments:
                status = (await mp(http, "query($id: ID!) { payment(id: $id) { status } }", {"id": p["id"]}, token=wx))["payment"]
                assert status == {"status": "PAID"}
    finally:
        code = server.stop()
    log = server.log()
    assert code == 0, log
    assert "demo stand-ins for all workers" in log and log.count("Application startup complete") == 2, log
    assert log.count("demo brand seeded") == 1, log
    verified = run_cli("ledger", "verify", "--database", db)
    assert verified.returncode == 0, verified.stdout + verified.stderr
