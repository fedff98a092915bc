"""Concurrent checkouts on one stored-value card through a real `meiye serve` process (DESIGN.md
§4, §9): 24 orders of ¥100 race for a card holding exactly ¥1,000, each checkout on its own HTTP
connection. Exactly ten may be paid; the other fourteen are refused with nothing moved. Runs on a
fresh database of the half of the suite that is running (a SQLite file without
MEIYE_TEST_DATABASE_URL, a new PostgreSQL database with it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from tests.live_server import graphql, login, run_cli, scratch_database, start_server

ORDERS = 24
PRICE = 10_000  # ¥100 per order
CARD_FUNDS = 100_000  # ¥1,000: principal only, no bonus
AFFORDABLE = CARD_FUNDS // PRICE
REQUEST_TIMEOUT = 120.0
_TEST_URL = os.environ.get("MEIYE_TEST_DATABASE_URL") or ""

CREATE_PRODUCT = """mutation($i: CreateStoredValueCardProductInput!) { createStoredValueCardProduct(input: $i) {
  product { id serviceDiscountPercent topUpRules { threshold } } errors { code field message } } }"""
CREATE_SERVICE = """mutation($i: CreateServiceInput!) { createService(input: $i) {
  service { id price } errors { code field message } } }"""
REGISTER = """mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code field message } } }"""
TOP_UP = """mutation($i: TopUpInput!) { topUp(input: $i) { card { id principal gift balance } bonus errors { code field message } } }"""
OPEN_ORDER = """mutation($i: OpenOrderInput!) { openOrder(input: $i) { order { id status total } errors { code field message } } }"""
CHECKOUT = """mutation($i: CheckoutInput!) { checkout(input: $i) {
  order { id status total paid breakdown { payments { method amount principal gift cardId } } } errors { code field message } } }"""
ORDER = """query($id: ID!) { order(id: $id) { id status paid } }"""
MEMBER = """query($id: ID!) { member(id: $id) { storedValueCards { id principal gift balance } } }"""


@pytest.fixture
async def live_database(tmp_path):
    """A brand-new database of the running half (see tests.live_server.scratch_database)."""
    async with scratch_database(_TEST_URL, tmp_path / "checkout-concurrency.db", "meiye_checkout_conc") as url:
        yield url


@pytest.fixture
def server(live_database, tmp_path):
    running = start_server(live_database, tmp_path / "server.log", demo=True)
    try:
        yield running
    finally:
        running.stop()


async def call(http: httpx.AsyncClient, query: str, variables: dict, token: str, field: str) -> dict:
    """A mutation's or query's field that must not fail at the top level."""
    body = await graphql(http, query, variables, token=token)
    assert not body.get("errors"), body
    return body["data"][field]


async def ok(http: httpx.AsyncClient, query: str, variables: dict, token: str, field: str) -> dict:
    """A mutation payload that must have no errors."""
    payload = await call(http, query, variables, token, field)
    assert payload["errors"] == [], payload
    return payload


@contextlib.asynccontextmanager
async def connections(server, n: int):
    """`n` clients, each holding its own open keep-alive connection to the server."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT, limits=httpx.Limits(max_connections=1))
            )
            for _ in range(n)
        ]
        for response in await asyncio.gather(*(c.get("/health") for c in clients)):
            assert response.status_code == 200
        yield clients


async def test_concurrent_checkouts_on_one_card_pay_exactly_what_it_holds(server, live_database):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        owner = await login(http, "owner")
        reception = await login(http, "reception")
        body = await graphql(http, "{ stores { id name } }", token=reception)
        assert not body.get("errors"), body
        store = {s["name"]: s["id"] for s in body["data"]["stores"]}["静安店"]

        # A card product at full price and without 充值送, so ¥1,000 in is exactly ¥1,000 of principal.
        product = (await ok(http, CREATE_PRODUCT, {"i": {"name": "并发测试卡", "serviceDiscountPercent": 100, "topUpRules": []}},
                            owner, "createStoredValueCardProduct"))["product"]
        assert (product["serviceDiscountPercent"], product["topUpRules"]) == (100, [])
        service = (await ok(http, CREATE_SERVICE, {"i": {"name": "并发测试护理", "price": PRICE, "durationMinutes": 30, "category": "测试"}},
                            owner, "createService"))["service"]

        member_id = (await ok(http, REGISTER, {"i": {"name": "并发结账", "phone": f"139{uuid.uuid4().int % 10**8:08d}",
                                                     "storeId": store, "consent": True}}, reception, "registerMember"))["member"]["id"]
        topped = await ok(http, TOP_UP, {"i": {"memberId": member_id, "cardProductId": product["id"], "storeId": store, "amount": CARD_FUNDS,
                                               "tender": "CASH", "idempotencyKey": f"desk-{uuid.uuid4().hex}"}}, reception, "topUp")
        card = topped["card"]
        assert (topped["bonus"], card["principal"], card["gift"], card["balance"]) == (0, CARD_FUNDS, 0, CARD_FUNDS), topped

        orders = []
        for _ in range(ORDERS):
            order = (await ok(http, OPEN_ORDER, {"i": {"storeId": store, "memberId": member_id, "lines": [{"serviceId": service["id"]}]}},
                              reception, "openOrder"))["order"]
            assert (order["status"], order["total"]) == ("OPEN", PRICE), order
            orders.append(order["id"])

    payments = [{"method": "STORED_VALUE", "cardId": card["id"]}]
    async with connections(server, ORDERS) as clients:
        payloads = await asyncio.gather(*(
            call(c, CHECKOUT, {"i": {"orderId": o, "payments": payments, "idempotencyKey": f"co-{uuid.uuid4().hex}"}}, reception, "checkout")
            for c, o in zip(clients, orders)
        ))

    paid = [o for o, p in zip(orders, payloads) if p["errors"] == []]
    refused = [o for o, p in zip(orders, payloads) if p["errors"]]
    assert len(paid) == AFFORDABLE and len(refused) == ORDERS - AFFORDABLE, payloads
    assert Counter((e["code"], e["field"]) for p in payloads for e in p["errors"]) == Counter(
        {("INSUFFICIENT_BALANCE", "payments.0.cardId"): ORDERS - AFFORDABLE}
    ), payloads
    for p in payloads:
        if p["errors"]:
            assert p["order"] is None, p
        else:
            o = p["order"]
            assert (o["status"], o["total"], o["paid"]) == ("PAID", PRICE, PRICE), p
            assert [(x["method"], x["amount"], x["principal"], x["gift"], x["cardId"]) for x in o["breakdown"]["payments"]] == [
                ("STORED_VALUE", PRICE, PRICE, 0, card["id"])
            ], p

    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        member = await call(http, MEMBER, {"id": member_id}, reception, "member")
        assert member["storedValueCards"] == [{"id": card["id"], "principal": 0, "gift": 0, "balance": 0}], member
        for order_id in refused:
            assert await call(http, ORDER, {"id": order_id}, reception, "order") == {"id": order_id, "status": "OPEN", "paid": 0}
        for order_id in paid:
            assert await call(http, ORDER, {"id": order_id}, reception, "order") == {"id": order_id, "status": "PAID", "paid": PRICE}

    result = await asyncio.to_thread(run_cli, "ledger", "verify", "--database", live_database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ledger verified: every invariant holds" in result.stdout, result.stdout


MEMBERS = 8
ORDERS_EACH = 3


async def test_concurrent_checkouts_at_one_store_spread_over_its_account_shards(server, live_database):
    """Every checkout at a store credits its revenue: the store's accounts are shards opened with
    the store (domain.ledger.store_accounts), so 24 checkouts by 8 members at 静安店 at once are
    all paid, none creates an account, and the shards add up to exactly what the cards paid."""
    from domain.db import create_engine, read_transaction

    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        owner = await login(http, "owner")
        reception = await login(http, "reception")
        body = await graphql(http, "{ stores { id name } }", token=reception)
        store = {s["name"]: s["id"] for s in body["data"]["stores"]}["静安店"]
        product = (await ok(http, CREATE_PRODUCT, {"i": {"name": "分片测试卡", "serviceDiscountPercent": 100, "topUpRules": []}},
                            owner, "createStoredValueCardProduct"))["product"]
        service = (await ok(http, CREATE_SERVICE, {"i": {"name": "分片测试护理", "price": PRICE, "durationMinutes": 30, "category": "测试"}},
                            owner, "createService"))["service"]
        jobs = []
        for m in range(MEMBERS):
            member_id = (await ok(http, REGISTER, {"i": {"name": f"分片{m}", "phone": f"137{uuid.uuid4().int % 10**8:08d}",
                                                         "storeId": store, "consent": True}}, reception, "registerMember"))["member"]["id"]
            card = (await ok(http, TOP_UP, {"i": {"memberId": member_id, "cardProductId": product["id"], "storeId": store, "amount": CARD_FUNDS,
                                                  "tender": "CASH", "idempotencyKey": f"desk-{uuid.uuid4().hex}"}}, reception, "topUp"))["card"]
            for _ in range(ORDERS_EACH):
                order = (await ok(http, OPEN_ORDER, {"i": {"storeId": store, "memberId": member_id, "lines": [{"serviceId": service["id"]}]}},
                                  reception, "openOrder"))["order"]
                jobs.append((order["id"], card["id"]))

    engine = create_engine(live_database, pool=False)
    try:
        async with read_transaction(engine) as db:
            accounts_before = (await db.execute(text("SELECT count(*) FROM accounts"))).scalar_one()
            store_pk = (await db.execute(text("SELECT id FROM stores WHERE name = '静安店'"))).scalar_one()
        async with connections(server, len(jobs)) as clients:
            payloads = await asyncio.gather(*(
                call(c, CHECKOUT, {"i": {"orderId": o, "payments": [{"method": "STORED_VALUE", "cardId": card_id}],
                                         "idempotencyKey": f"co-{uuid.uuid4().hex}"}}, reception, "checkout")
                for c, (o, card_id) in zip(clients, jobs)
            ))
        assert [p["errors"] for p in payloads] == [[]] * len(jobs), payloads
        assert {(p["order"]["status"], p["order"]["paid"]) for p in payloads} == {("PAID", PRICE)}
        async with read_transaction(engine) as db:
            assert (await db.execute(text("SELECT count(*) FROM accounts"))).scalar_one() == accounts_before
            revenue = (await db.execute(text(
                "SELECT a.code, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id JOIN transfers t ON t.id = p.transfer_id "
                "WHERE t.kind = 'CHECKOUT' AND a.kind = 'STORE_REVENUE' AND a.store_id = :s"), {"s": store_pk})).all()
            balance = (await db.execute(text("SELECT sum(balance) FROM accounts WHERE kind = 'STORE_REVENUE' AND store_id = :s"), {"s": store_pk})).scalar_one()
    finally:
        await engine.dispose()
    assert len(revenue) == len(jobs) and sum(-amount for _, amount in revenue) == len(jobs) * PRICE, revenue
    assert balance == len(jobs) * PRICE
    assert len({code for code, _ in revenue}) > 1, "the checkouts all posted to one revenue account"
    assert all(code.startswith(f"store:{store_pk}:store_revenue") for code, _ in revenue), revenue
    result = await asyncio.to_thread(run_cli, "ledger", "verify", "--database", live_database)
    assert result.returncode == 0, result.stdout + result.stderr
