"""Concurrent money mutations through a real `meiye serve` process (DESIGN.md §4, §9): eight
top-ups in flight at once, each on its own HTTP connection, on a fresh database of the half of
the suite that is running (SQLite without MEIYE_TEST_DATABASE_URL, PostgreSQL with it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections import Counter

import httpx
import pytest

from domain.db import create_engine, read_transaction
from domain.invariants import verify_all
from tests.live_server import graphql, login, run_cli, scratch_database, start_server

PARALLEL = 8
REQUEST_TIMEOUT = 60.0
_TEST_URL = os.environ.get("MEIYE_TEST_DATABASE_URL") or ""
ON_POSTGRES_HALF = _TEST_URL.startswith("postgresql")

# 金卡 of the demo brand: 充1000送200 / 充3000送800 / 充5000送1500.
GOLD_RULES = ((500_000, 150_000), (300_000, 80_000), (100_000, 20_000))

TOP_UP = """mutation($i: TopUpInput!) { topUp(input: $i) {
  card { id principal gift } amount bonus errors { code field message } } }"""

MEMBER = """query($id: ID!) { member(id: $id) {
  storedValueCards { id principal gift }
  transactions(first: 100) { edges { node { kind amount balanceAfter } } } } }"""


def gold_bonus(amount: int) -> int:
    return next((bonus for threshold, bonus in GOLD_RULES if amount >= threshold), 0)


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.skipif(ON_POSTGRES_HALF, reason="the PostgreSQL half runs the PostgreSQL case")),
        pytest.param("postgresql", marks=pytest.mark.skipif(not ON_POSTGRES_HALF, reason="the SQLite half runs the SQLite case")),
    ]
)
async def live_database(request, tmp_path):
    """A brand-new database of the running half (see tests.live_server.scratch_database)."""
    async with scratch_database(_TEST_URL if request.param == "postgresql" else "", tmp_path / "concurrency.db", "meiye_conc") as url:
        yield url


@pytest.fixture
def server(live_database, tmp_path):
    running = start_server(live_database, tmp_path / "server.log", demo=True)
    try:
        yield running
    finally:
        running.stop()


@contextlib.asynccontextmanager
async def connections(server, n: int = PARALLEL):
    """`n` clients, each holding its own open keep-alive connection to the server."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT, limits=httpx.Limits(max_connections=1))
            )
            for _ in range(n)
        ]
        # Connect every client before the burst, so the burst is n requests on n live connections.
        for response in await asyncio.gather(*(c.get("/health") for c in clients)):
            assert response.status_code == 200
        yield clients


async def burst(server, token: str, inputs: list[dict]) -> list[dict]:
    """One topUp per input, all in flight at once, each on its own connection; the payloads."""
    async with connections(server, len(inputs)) as clients:
        bodies = await asyncio.gather(*(graphql(c, TOP_UP, {"i": i}, token=token) for c, i in zip(clients, inputs)))
    for body in bodies:
        assert not body.get("errors"), body
    return [body["data"]["topUp"] for body in bodies]


async def desk(server) -> tuple[str, dict, dict]:
    """reception's token, the demo stores and card products by name."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        token = await login(http, "reception")
        body = await graphql(http, "{ stores { id name } storedValueCardProducts { id name } }", token=token)
    assert not body.get("errors"), body
    stores = {s["name"]: s["id"] for s in body["data"]["stores"]}
    products = {p["name"]: p["id"] for p in body["data"]["storedValueCardProducts"]}
    return token, stores, products


async def register(server, token: str, store_id: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        body = await graphql(
            http,
            "mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code message } } }",
            {"i": {"name": name, "phone": f"139{uuid.uuid4().int % 10**8:08d}", "storeId": store_id, "consent": True}},
            token=token,
        )
    assert not body.get("errors") and body["data"]["registerMember"]["errors"] == [], body
    return body["data"]["registerMember"]["member"]["id"]


async def member_state(server, token: str, member_id: str) -> dict:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        body = await graphql(http, MEMBER, {"id": member_id}, token=token)
    assert not body.get("errors"), body
    return body["data"]["member"]


def statement(member: dict) -> list[dict]:
    """The member's statement lines, oldest first."""
    return [edge["node"] for edge in reversed(member["transactions"]["edges"])]


async def assert_ledger_verify_passes(database_url: str) -> None:
    """`meiye ledger verify` exits 0 and prints every check the domain defines, each ok."""
    result = await asyncio.to_thread(run_cli, "ledger", "verify", "--database", database_url)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    engine = create_engine(database_url, pool=False)
    try:
        async with read_transaction(engine) as db:
            checks = await verify_all(db)
    finally:
        await engine.dispose()
    assert len(checks) >= 5, [c.name for c in checks]
    printed = result.stdout.splitlines()
    for check in checks:
        line = re.compile(rf"ok\s+{re.escape(check.name)} \({check.checked} checked\)")
        assert any(line.fullmatch(p.strip()) for p in printed), (check.name, output)
    assert "every account's balance equals the sum of its postings" in result.stdout, output
    assert "BROKEN" not in result.stdout, output
    assert "ledger verified: every invariant holds" in result.stdout, output


async def test_same_idempotency_key_in_parallel_moves_money_once(server, live_database):
    token, stores, products = await desk(server)
    member_id = await register(server, token, stores["静安店"], "并发会员")
    key = f"desk-conc-{uuid.uuid4().hex}"
    request = {
        "memberId": member_id, "cardProductId": products["金卡"], "storeId": stores["静安店"],
        "amount": 100_000, "tender": "CASH", "idempotencyKey": key,
    }

    payloads = await burst(server, token, [dict(request) for _ in range(PARALLEL)])

    assert [p["errors"] for p in payloads] == [[]] * PARALLEL, payloads
    assert {p["card"]["id"] for p in payloads} == {payloads[0]["card"]["id"]}, payloads
    assert {(p["amount"], p["bonus"]) for p in payloads} == {(100_000, 20_000)}, payloads
    member = await member_state(server, token, member_id)
    assert [(c["id"], c["principal"], c["gift"]) for c in member["storedValueCards"]] == [(payloads[0]["card"]["id"], 100_000, 20_000)], member
    assert [(line["kind"], line["amount"]) for line in statement(member)] == [("TOP_UP", 120_000)], member

    # The same key with another input is refused, and nothing moves.
    [reused] = await burst(server, token, [{**request, "amount": 200_000}])
    assert [e["code"] for e in reused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"], reused
    assert reused["errors"][0]["field"] == "idempotencyKey", reused
    assert await member_state(server, token, member_id) == member

    await assert_ledger_verify_passes(live_database)


async def test_parallel_top_ups_with_distinct_keys_lose_no_update(server, live_database):
    token, stores, products = await desk(server)
    member_id = await register(server, token, stores["静安店"], "并发充值")
    amounts = [50_000, 100_000, 150_000, 300_000, 20_000, 100_001, 500_000, 99_999]
    assert len(amounts) == PARALLEL

    def inputs(**target) -> list[dict]:
        return [
            {"memberId": member_id, "storeId": stores["静安店"], "amount": amount, "tender": "CASH",
             "idempotencyKey": f"desk-conc-{uuid.uuid4().hex}", **target}
            for amount in amounts
        ]

    # First burst by product: the card does not exist yet, so all eight race to issue it.
    first = await burst(server, token, inputs(cardProductId=products["金卡"]))
    assert [p["errors"] for p in first] == [[]] * PARALLEL, first
    card_id = first[0]["card"]["id"]
    assert {p["card"]["id"] for p in first} == {card_id}, first
    # Second burst on the card by id.
    second = await burst(server, token, inputs(cardId=card_id))
    assert [p["errors"] for p in second] == [[]] * PARALLEL, second
    assert {p["card"]["id"] for p in second} == {card_id}, second

    for payload, amount in zip(first + second, amounts + amounts):
        assert (payload["amount"], payload["bonus"]) == (amount, gold_bonus(amount)), payload
    principal = 2 * sum(amounts)
    gift = 2 * sum(gold_bonus(a) for a in amounts)
    member = await member_state(server, token, member_id)
    assert [(c["id"], c["principal"], c["gift"]) for c in member["storedValueCards"]] == [(card_id, principal, gift)], member

    lines = statement(member)
    assert [line["kind"] for line in lines] == ["TOP_UP"] * 2 * PARALLEL, lines
    assert Counter(line["amount"] for line in lines) == Counter(a + gold_bonus(a) for a in amounts + amounts), lines
    # Each line's balance after is the previous line's plus its own amount: the top-ups ran one
    # after another on the card, none of them read a stale balance.
    running = 0
    for line in lines:
        running += line["amount"]
        assert line["balanceAfter"] == running, lines
    assert running == principal + gift

    await assert_ledger_verify_passes(live_database)
