"""Helpers shared by the tests: a GraphQL client over ASGI or HTTP, ledger checks, PostgreSQL set-up."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from domain.db import read_transaction
from domain.invariants import verify_all

ROLES = ("owner", "manager", "reception", "technician", "finance", "marketer")


def fresh_postgres_database(url: str) -> str:
    """A brand-new database named by the URL (dropped first if it exists)."""
    parsed = make_url(url)

    async def recreate():
        conn = await asyncpg.connect(
            user=parsed.username or "postgres", password=parsed.password, host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432, database="postgres",
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{parsed.database}"')
            # Tests commit thousands of small transactions; waiting for each to reach the disk buys them nothing.
            await conn.execute(f'ALTER DATABASE "{parsed.database}" SET synchronous_commit = off')
        finally:
            await conn.close()

    asyncio.run(recreate())
    return url


class GraphQLError(AssertionError):
    pass


@dataclass
class GraphQLClient:
    http: object
    path: str = "/graphql"
    tokens: dict = field(default_factory=dict)

    async def raw(self, query: str, variables: dict | None = None, *, token: str | None = None, as_: str | None = None, lang: str | None = None) -> dict:
        headers = {}
        token = token or (self.tokens.get(as_) if as_ else None)
        if token:
            headers["authorization"] = f"Bearer {token}"
        if lang:
            headers["accept-language"] = lang
        response = await self.http.post(self.path, json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def __call__(self, query: str, variables: dict | None = None, **kwargs) -> dict:
        """The data of a query that must not fail at the top level."""
        body = await self.raw(query, variables, **kwargs)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    async def login(self, username: str, password: str = "meiye-demo") -> str:
        data = await self(
            "mutation($u: String!, $p: String!) { staffLogin(input: {username: $u, password: $p}) { token errors { code } } }",
            {"u": username, "p": password},
        )
        assert data["staffLogin"]["errors"] == [], data
        return data["staffLogin"]["token"]

    async def demo_brand(self) -> "Demo":
        for role in ROLES:
            self.tokens[role] = await self.login(role)
        stores = (await self("{ stores { id name } }", as_="owner"))["stores"]
        products = (await self("{ storedValueCardProducts { id name } }", as_="owner"))["storedValueCardProducts"]
        services = (await self("{ services { id name price } }", as_="owner"))["services"]
        extra = await self("{ countCardProducts { id name } retailProducts { id name } staffMembers { id username } }", as_="owner")
        return Demo(self, {s["name"]: s["id"] for s in stores}, {p["name"]: p["id"] for p in products}, {s["name"]: s for s in services},
                    {p["name"]: p["id"] for p in extra["countCardProducts"]}, {p["name"]: p["id"] for p in extra["retailProducts"]},
                    {s["username"]: s["id"] for s in extra["staffMembers"]})


@dataclass
class Demo:
    gql: GraphQLClient
    stores: dict
    products: dict
    services: dict
    count_card_products: dict = field(default_factory=dict)
    retail: dict = field(default_factory=dict)
    staff: dict = field(default_factory=dict)

    @property
    def jingan(self) -> str:
        return self.stores["静安店"]

    @property
    def xuhui(self) -> str:
        return self.stores["徐汇店"]

    async def register(self, name: str = "测试会员", phone: str | None = None, store: str | None = None, as_: str = "reception") -> dict:
        phone = phone or f"135{uuid.uuid4().int % 10**8:08d}"
        data = await self.gql(
            """mutation($i: RegisterMemberInput!) { registerMember(input: $i) {
                 member { id memberNo name phone } errors { code field message } } }""",
            {"i": {"name": name, "phone": phone, "storeId": store or self.jingan, "consent": True}},
            as_=as_,
        )
        assert data["registerMember"]["errors"] == [], data
        return data["registerMember"]["member"]

    async def top_up(self, member_id: str, amount: int, *, product: str = "金卡", key: str | None = None, store: str | None = None,
                     tender: str = "CASH", as_: str = "reception", card_id: str | None = None) -> dict:
        payload = {"memberId": member_id, "storeId": store or self.jingan, "amount": amount, "tender": tender,
                   "idempotencyKey": key or uuid.uuid4().hex}
        if card_id:
            payload["cardId"] = card_id
        else:
            payload["cardProductId"] = self.products[product]
        data = await self.gql(TOP_UP, {"i": payload}, as_=as_)
        return data["topUp"]


TOP_UP = """mutation($i: TopUpInput!) { topUp(input: $i) {
  card { id principal gift balance status issuedStore { id } product { name } } amount bonus
  errors { code field message } } }"""


async def assert_ledger_ok(engine) -> None:
    async with read_transaction(engine) as db:
        checks = await verify_all(db)
    broken = {c.name: c.broken for c in checks if c.broken}
    assert not broken, broken


ORDER_FIELDS = """order { id status listTotal discount total paid refunded pointsEarned note store { id }
  lines { id name quantity listAmount discount netAmount coveredByCountCard refundedQuantity }
  breakdown { listTotal discount total paid payments { method amount principal gift cardId countCardId refundedAmount } } }"""

OPEN_ORDER = "mutation($i: OpenOrderInput!) { openOrder(input: $i) { " + ORDER_FIELDS + " errors { code field message } } }"
CHECKOUT = "mutation($i: CheckoutInput!) { checkout(input: $i) { " + ORDER_FIELDS + " errors { code field message } } }"


async def open_order(demo: "Demo", lines: list[dict], *, member_id: str | None = None, store: str | None = None, note: str | None = None, as_: str = "reception") -> dict:
    payload = {"storeId": store or demo.jingan, "lines": lines}
    if member_id:
        payload["memberId"] = member_id
    if note:
        payload["note"] = note
    result = (await demo.gql(OPEN_ORDER, {"i": payload}, as_=as_))["openOrder"]
    assert result["errors"] == [], result
    return result["order"]


async def checkout(demo: "Demo", order_id: str, payments: list[dict], *, key: str | None = None, as_: str = "reception") -> dict:
    return (await demo.gql(CHECKOUT, {"i": {"orderId": order_id, "payments": payments, "idempotencyKey": key or uuid.uuid4().hex}}, as_=as_))["checkout"]


async def mp(http: httpx.AsyncClient, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    """The data of a mini-program (/mp/graphql) request that must not fail at the top level."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/mp/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]
