"""A seeded, bounded fuzz of both endpoints: malformed bodies, and random operations built from each
schema's own root fields with random (often hostile, often wrongly typed) arguments, sent as
nobody, as staff and as a customer. Whatever comes in, no answer is a 5xx, an "Internal error", or
Python exception text. The seed is fixed, so a failure reproduces; MEIYE_FUZZ_SEED and
MEIYE_FUZZ_OPERATIONS explore further.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import re
import uuid

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)
from starlette.applications import Starlette
from sqlalchemy import text

from domain.db import read_transaction
from domain.members.customers import Channel
from integrations.demo import DemoStandins
from integrations.runtime import build_registry
from integrations.standins import StandIns, StandInServer, generate_demo_keys
from schema.app import create_app
from schema.root import build_customer_schema, build_staff_schema
from tests.support import assert_ledger_ok, open_order

SEED = int(os.environ.get("MEIYE_FUZZ_SEED", "20261201"))
OPERATIONS_PER_SCHEMA = int(os.environ.get("MEIYE_FUZZ_OPERATIONS", "300"))

PYTHON_NAMES = sorted(n for n in dir(builtins) if n.endswith(("Error", "Exception")) and n != "Exception")
LEAKS = re.compile("|".join(
    [r"\b" + re.escape(n) + r"\b" for n in PYTHON_NAMES]
    + [r"\b\w+(?:Violation|Repertoire|Integrity|Operational|Programming|Interface|Statement|DBAPI|Decode|Encode)Error\b",
       "Traceback", "Internal error", "服务器内部错误", "sqlalchemy", "asyncpg", "aiosqlite", "NoneType", "has no attribute",
       "positional argument", "keyword argument", "multiple values for", "not subscriptable", r"max\(\) arg", r"object is not"]
))

STRINGS = [
    "", " ", "x", "张小美", "a" * 300, "长" * 3000, "x" * 60_000, "\x00", "a\x00b", "\x07", "\x1b[2J", "\x7f", "\x85", "\u2028", "\ufeff",
    "😀", "%", "_", "'", '"', "\\", "' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd", "null", "0", "-1", "1e999", "NaN",
    "2026-12-01", "2026-13-45", "not-a-date", "2026-12-01T10:00:00+08:00", "13800138000", "138****8000", "Member:1", "TWVtYmVyOjE=",
    "U3RvcmU6MQ==", "!!!", "====", "demo:o_fuzz", "demo-phone:13800138000", "a\nb\tc\r", "\udfff",
]
INTS = [0, 1, -1, 2, 7, 100, 101, 10_000, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 - 1, 2**53, 10**30]
WRONG = [None, [], {}, [1, 2], {"a": 1}, "x", 1.5, True, -0.0, 10**400, "9" * 50]

MALFORMED_BODIES = [
    b"", b"null", b"0", b"-1", b'"str"', b"1e999", b"[]", b"[{}]", b"{}", b"{", b"}", b"\xff\xfe", b'{"query":"\xff"}', b"[" * 100_000,
    b"{" * 5000, b'{"query": null}', b'{"query": []}', b'{"query": "{ __typename }", "variables": 5}', b'{"query": "\\ud800"}',
    b'{"query": "{ __typename }", "operationName": {}}', b'{"query": "{ __typename }", "extensions": "x"}', b'{"query": "' + b"{" * 3000 + b'"}',
    b'{"query": "query Q { __typename }", "operationName": "Nope"}', b'{"query": "query A { __typename } query B { __typename }"}',
    b'{"query": "subscription { x }"}', b'{"query": "' + b"a" * 200_000 + b'"}', b'{"query": "{ __typename }"' + b" " * 300_000 + b"}",
    b'{"query": "{ __typename }", "variables": {"a": NaN}}', b'{"query": "{ __typename }", "variables": {"a": ' + b"1" * 10_000 + b"}}",
    b"\x00" * 100, json.dumps({"query": "{ __schema { types { name } } }"}).encode(),
    json.dumps({"query": "#" + "x" * 1000}).encode(), json.dumps({"query": "{ " + "a: __typename " * 100 + "}"}).encode(),
]


# ------------------------------------------------------------------------------- the harness


@pytest.fixture(scope="module")
def standins():
    platforms = StandIns(generate_demo_keys())
    server = StandInServer(Starlette(routes=platforms.routes())).start()
    yield platforms, server
    server.stop()


@pytest.fixture
async def fuzz_http(demo, settings, engine, standins):
    """An app whose mini-program platforms are the stand-ins, so that a customer can sign in."""
    platforms, server = standins
    async with read_transaction(engine) as db:
        brand_id = await db.scalar(text("SELECT brand_id FROM staff WHERE username = 'owner'"))
    config = DemoStandins(server.base_url, platforms)
    rows = [{"brand_id": brand_id, "channel": c, "app_id": config.config(c)["app_id"], "merchant_id": None, "config": config.config(c)} for c in Channel]
    app = create_app(settings, engine=engine, platforms=build_registry(rows, "http://meiye.test"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meiye.test") as http:
            yield http


class Fuzzer:
    def __init__(self, rng: random.Random, ids: list[str]) -> None:
        self.rng = rng
        self.ids = ids

    # ------------------------------------------------------------------ values

    def value(self, gql_type, depth: int = 0):
        rng = self.rng
        if rng.random() < 0.02:
            return rng.choice(WRONG)
        if isinstance(gql_type, GraphQLNonNull):
            return None if rng.random() < 0.01 else self.value(gql_type.of_type, depth)
        if rng.random() < 0.08:
            return None
        if isinstance(gql_type, GraphQLList):
            if rng.random() < 0.1:
                return self.value(gql_type.of_type, depth + 1)  # a single value where a list is expected
            return [self.value(gql_type.of_type, depth + 1) for _ in range(rng.choice((0, 1, 1, 2, 3)))]
        if isinstance(gql_type, GraphQLInputObjectType):
            if depth > 4:
                return {}
            result = {}
            for name, field in gql_type.fields.items():
                if isinstance(field.type, GraphQLNonNull) or rng.random() < 0.5:
                    result[name] = self.value(field.type, depth + 1)
            if rng.random() < 0.02:
                result["unknownField"] = "x"
            return result
        if isinstance(gql_type, GraphQLEnumType):
            return rng.choice(list(gql_type.values)) if rng.random() < 0.95 else rng.choice(["NOPE", "nope"])
        return self.scalar(gql_type.name)

    def scalar(self, name: str):
        rng = self.rng
        if name in ("Int", "Fen"):
            return rng.choice(INTS) if rng.random() < 0.7 else rng.randint(-1000, 200_000)
        if name == "Float":
            return rng.choice([0.0, 0.5, -1.5, 1e308, 3.0])
        if name == "Boolean":
            return rng.random() < 0.5
        if name == "ID":
            return rng.choice(self.ids) if rng.random() < 0.6 else rng.choice(STRINGS)
        if name == "Date":
            # Dates at the ends of the calendar (0001-01-01, 9999-12-31) are another engineer's (issue 7, dailyClose).
            return rng.choice(["2026-12-01", "2026-11-30", "2025-01-01", "2026-02-30", "20261201", "x", "", "2026-12-01T00:00:00"])
        if name == "DateTime":
            return rng.choice(["2026-12-01T10:00:00+08:00", "2026-12-01T10:00:00", "x", "", "2026-12-01"])
        if name == "JSON":
            return rng.choice([{}, [], 1, "x", None, {"a": [1, {"b": "\x00"}]}])
        return rng.choice(STRINGS)

    # ------------------------------------------------------------------ documents

    def selection(self, gql_type, depth: int = 0) -> str:
        named = get_named_type(gql_type)
        if isinstance(named, (GraphQLUnionType, GraphQLInterfaceType)):
            return "{ __typename }"
        if not isinstance(named, GraphQLObjectType):
            return ""
        parts = []
        for name, field in named.fields.items():
            if any(isinstance(a.type, GraphQLNonNull) for a in field.args.values()):
                continue
            inner = get_named_type(field.type)
            if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
                parts.append(name)
            elif depth < 2 and (name in ("errors", "edges", "node") or self.rng.random() < 0.4):
                parts.append(f"{name} {self.selection(field.type, depth + 1)}")
        return "{ " + " ".join(parts or ["__typename"]) + " }"

    def operation(self, schema) -> tuple[str, dict]:
        rng = self.rng
        kind, root = rng.choice([("query", schema.query_type), ("mutation", schema.mutation_type)])
        name, field = rng.choice(sorted(root.fields.items()))
        as_variables = rng.random() < 0.6
        declarations, arguments, variables = [], [], {}
        for i, (arg_name, arg) in enumerate(field.args.items()):
            if not isinstance(arg.type, GraphQLNonNull) and rng.random() < 0.3:
                continue
            value = self.value(arg.type)
            if as_variables:
                declarations.append(f"$v{i}: {arg.type}")
                arguments.append(f"{arg_name}: $v{i}")
                variables[f"v{i}"] = value
            else:
                arguments.append(f"{arg_name}: {literal(value)}")
        head = f"{kind}({', '.join(declarations)})" if declarations else kind
        args = f"({', '.join(arguments)})" if arguments else ""
        return f"{head} {{ {name}{args} {self.selection(field.type)} }}", variables


def literal(value) -> str:
    """A value as a GraphQL literal; strings that look like enum names stay quoted (a wrong type)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, float) or value == value else "0"
    if isinstance(value, str):
        if re.fullmatch(r"[A-Z][A-Z_]*", value):
            return value  # enum values go bare
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"


def problem(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        response.json()
    except ValueError:
        return "answer is not JSON"
    leak = LEAKS.search(response.text)
    return f"leaks {leak.group(0)!r}" if leak else None


async def send(http, path: str, failures: list, token: str | None, *, json_body=None, content: bytes | None = None, note: str = "") -> None:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if json_body is not None:
        content = json.dumps(json_body).encode()  # the standard library writes lone surrogates as \\udfff escapes
    response = await http.post(path, content=content, headers=headers)
    found = problem(response)
    if found:
        failures.append(f"{path} {found}: {note or content[:300]!r} -> {response.text[:300]}")


async def demo_ids(demo) -> list[str]:
    """Real ids, so that random operations get past "not found" into the code behind it."""
    member = await demo.register("模糊测试", as_="owner")
    card = (await demo.top_up(member["id"], 100_000))["card"]
    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], member_id=member["id"])
    return [*demo.stores.values(), *demo.products.values(), *(s["id"] for s in demo.services.values()), *demo.count_card_products.values(),
            *demo.retail.values(), *demo.staff.values(), member["id"], card["id"], order["id"], order["lines"][0]["id"]]


async def customer_token(http) -> str:
    body = (await http.post("/mp/graphql", json={"query": 'mutation($c: String!) { wechatLogin(input: {code: $c}) { token } }',
                                                 "variables": {"c": f"demo:o_{uuid.uuid4().hex[:8]}"}})).json()
    token = body["data"]["wechatLogin"]["token"]
    bound = (await http.post("/mp/graphql", json={"query": 'mutation { bindPhone(input: {phoneCode: "demo-phone:13800138000", consent: true}) { errors { code } } }'},
                             headers={"authorization": f"Bearer {token}"})).json()
    assert bound["data"]["bindPhone"]["errors"] == [], bound
    return token


# ------------------------------------------------------------------------------------ the tests


async def test_malformed_bodies_to_both_endpoints(fuzz_http, demo):
    failures: list[str] = []
    rng = random.Random(SEED)
    bodies = MALFORMED_BODIES + [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(40)]
    for path in ("/graphql", "/mp/graphql"):
        for body in bodies:
            await send(fuzz_http, path, failures, rng.choice([None, demo.gql.tokens["owner"]]), content=body)
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("endpoint", ["staff", "customer"])
async def test_random_operations_never_fail_on_the_server(fuzz_http, demo, engine, endpoint):
    rng = random.Random(f"{SEED}-{endpoint}")
    fuzzer = Fuzzer(rng, await demo_ids(demo))
    customer = await customer_token(fuzz_http)
    schema = (build_staff_schema() if endpoint == "staff" else build_customer_schema())._schema
    path = "/graphql" if endpoint == "staff" else "/mp/graphql"
    callers = [None, customer, demo.gql.tokens["owner"], demo.gql.tokens["reception"], demo.gql.tokens["technician"]]
    failures: list[str] = []
    for _ in range(OPERATIONS_PER_SCHEMA):
        document, variables = fuzzer.operation(schema)
        await send(fuzz_http, path, failures, rng.choice(callers), json_body={"query": document, "variables": variables},
                   note=f"{document[:300]} {json.dumps(variables)[:300]}")
    assert not failures, f"{len(failures)} failures, e.g.:\n" + "\n".join(failures[:10])
    await assert_ledger_ok(engine)
