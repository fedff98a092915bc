"""Each hostile input of issue 7 at the HTTP and GraphQL layer, on both endpoints: a 4xx or a coded
error, never a 500, an "Internal error" or Python exception text, and nothing stored."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from domain.db import read_transaction
from domain.models import metadata
from integrations.standins import StandIns, generate_demo_keys
from schema.http_guard import MAX_BODY_BYTES, MAX_JSON_DEPTH
from schema.limits import MAX_COST
from schema.text_guard import bad_text_path

ENDPOINTS = ("/graphql", "/mp/graphql")
REGISTER = """mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code field message } } }"""


async def members_count(engine) -> int:
    async with read_transaction(engine) as db:
        return await db.scalar(select(func.count()).select_from(metadata.tables["members"]))


# ------------------------------------------------------------------------------------- the body


async def asgi_post(app, path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, dict, int]:
    """POST straight over ASGI, the body in `chunks` (more_body between them, as a chunked upload
    arrives): the status, the JSON answer, and how many chunks the app asked for."""
    pending = list(chunks)
    asked = 0
    sent: list[dict] = []

    async def receive():
        nonlocal asked
        asked += 1
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "server": ("meiye.test", 80), "client": ("127.0.0.1", 1),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), asked


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_body_over_the_cap_is_refused_before_it_is_read(app, path):
    chunk = b" " * (64 * 1024)
    # Declared too large: refused on the header, without reading a byte.
    status, body, asked = await asgi_post(app, path, [chunk] * 100, {"content-type": "application/json", "content-length": str(100 * len(chunk))})
    assert (status, body["errors"][0]["extensions"]["code"], asked) == (413, "PAYLOAD_TOO_LARGE", 0)
    # Chunked, no Content-Length: reading stops at the first chunk past the cap (5 of 100 chunks).
    status, body, asked = await asgi_post(app, path, [chunk] * 100, {"content-type": "application/json"})
    assert (status, body["errors"][0]["extensions"]["code"], asked) == (413, "PAYLOAD_TOO_LARGE", MAX_BODY_BYTES // len(chunk) + 1)
    # A Content-Length that lies low does not help either.
    status, body, asked = await asgi_post(app, path, [chunk] * 100, {"content-type": "application/json", "content-length": "10"})
    assert (status, asked) == (413, MAX_BODY_BYTES // len(chunk) + 1)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_body_just_under_the_cap_is_served(app, path):
    query = b'{"query": "{ __typename }"}'
    padded = query[:-1] + b" " * (MAX_BODY_BYTES - len(query)) + b"}"
    status, body, _ = await asgi_post(app, path, [padded[: len(padded) // 2], padded[len(padded) // 2:]], {"content-type": "application/json"})
    assert (status, body) == (200, {"data": {"__typename": "Query"}})


async def test_every_other_route_has_a_cap_too(app):
    """Payment notifications read their whole body: a stranger's 100 × 64 KiB stops at the cap."""
    chunk = b"x" * (64 * 1024)
    for headers in ({"content-type": "application/json"}, {"content-type": "application/json", "content-length": str(100 * len(chunk))}):
        status, body, asked = await asgi_post(app, "/notify/wechatpay/wx-any", [chunk] * 100, headers)
        assert (status, body["errors"][0]["extensions"]["code"]) == (413, "PAYLOAD_TOO_LARGE") and asked <= MAX_BODY_BYTES // len(chunk) + 1


MALFORMED = {
    "null": b"null", "zero": b"0", "string": b'"str"', "overflowing float": b"1e999", "array": b"[]", "batch": b'[{"query": "{ __typename }"}]',
    "not utf-8": b'{"query":"\xff"}', "deep array": b"[" * 100_000, "not json": b"{query", "empty": b"",
    "deep variables": b'{"query": "{ __typename }", "variables": ' + b'{"a": ' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 2),
    "deep list variable": b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 1000 + b"]" * 1000 + b"}}",
    "huge integer": b'{"query": "{ __typename }", "variables": {"a": ' + b"9" * 5000 + b"}}",
    "query not a string": b'{"query": 1}', "no query": b'{"variables": {}}', "variables an array": b'{"query": "{ __typename }", "variables": []}',
    "variables a string": b'{"query": "{ __typename }", "variables": "{}"}', "operationName a number": b'{"query": "{ __typename }", "operationName": 1}',
    "extensions a list": b'{"query": "{ __typename }", "extensions": [1]}',
    "lone surrogate": b'{"query": "query($s: String) { __typename }", "variables": {"s": "\\udfff"}}',
}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("name", MALFORMED)
async def test_each_malformed_body_is_a_coded_400(client, path, name):
    response = await client.http.post(path, content=MALFORMED[name], headers={"content-type": "application/json", "accept-language": "en"})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("Bad request: ")


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_body_that_is_not_json_is_refused_as_such(client, path):
    response = await client.http.post(path, content=b"query { __typename }", headers={"content-type": "application/graphql"})
    assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


# Types a web page may POST to another site without a CORS preflight, naming application/json only in
# a parameter: refused, so that no page a browser visits can run the API's public mutations (a login).
CROSS_SITE_TYPES = ["text/plain;charset=application/json", "text/plain; x=application/json",
                    "application/x-www-form-urlencoded; a=application/json", "multipart/form-data; boundary=application/json",
                    "application/jsonp", "text/x-application/json"]


@pytest.mark.parametrize("content_type", CROSS_SITE_TYPES)
@pytest.mark.parametrize("path", ENDPOINTS)
async def test_only_the_json_media_type_itself_is_read(client, path, content_type):
    login = b'{"query":"mutation { staffLogin(input: {username: \\"owner\\", password: \\"meiye-demo\\"}) { token } }"}'
    response = await client.http.post(path, content=login, headers={"content-type": content_type})
    assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", " Application/Json ;charset=UTF-8"])
async def test_the_json_media_type_is_read_in_any_case_and_with_parameters(client, content_type):
    response = await client.http.post("/graphql", content=b'{"query":"{ __typename }"}', headers={"content-type": content_type})
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})


# ------------------------------------------------------------------------------------ the text


def test_the_text_check_finds_the_path_of_the_bad_string():
    assert bad_text_path({"input": {"name": "ok", "lines": [{"note": "ok"}, {"note": "b\x00d"}]}}) == "input.lines.1.note"
    assert bad_text_path({"search": "\udfff"}) == "search"
    assert bad_text_path({"x": "\x7f"}) == bad_text_path({"x": "\x85"}) == "x"
    assert bad_text_path({"input": {"note": "第一行\n第二行\r\n\t缩进", "tags": ["😀", "%", "'"], "n": 3}}) is None


@pytest.mark.parametrize("bad", ["\u0000", "\u0007", "\u001b[31m", "\u007f"])
async def test_control_characters_are_refused_in_a_mutation_payload_and_nothing_is_stored(demo, engine, bad):
    before = await members_count(engine)
    data = await demo.gql(REGISTER, {"i": {"name": f"张{bad}三", "phone": "13512345678", "storeId": demo.jingan, "consent": True}}, as_="reception", lang="en")
    assert data["registerMember"] == {"member": None, "errors": [
        {"code": "INVALID_TEXT", "field": "name", "message": "name contains a control character that is not allowed"}]}
    data = await demo.gql(REGISTER, {"i": {"name": "张三", "phone": "13512345678", "storeId": demo.jingan, "consent": True, "tags": ["ok", bad]}}, as_="reception")
    assert [(e["code"], e["field"]) for e in data["registerMember"]["errors"]] == [("INVALID_TEXT", "tags.1")]
    assert await members_count(engine) == before


async def test_nul_in_a_literal_and_in_a_query_argument_is_a_coded_error(demo, engine):
    before = await members_count(engine)
    literal = 'mutation { registerMember(input: {name: "a\\u0000b", phone: "13512345678", storeId: "%s", consent: true}) { member { id } errors { code field } } }' % demo.jingan
    assert (await demo.gql(literal, as_="reception"))["registerMember"] == {"member": None, "errors": [{"code": "INVALID_TEXT", "field": "name"}]}
    body = await demo.gql.raw("query($s: String) { members(search: $s) { edges { node { id } } } }", {"s": "138\x00"}, as_="reception")
    assert body["data"] is None
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [("INVALID_TEXT", "search")]
    assert await members_count(engine) == before


async def test_staff_login_with_a_control_character_is_refused_without_a_token(client, demo):
    for variables in ({"u": "owner\x00", "p": "meiye-demo"}, {"u": "owner", "p": "meiye\x00demo"}):
        data = await client("mutation($u: String!, $p: String!) { staffLogin(input: {username: $u, password: $p}) { token errors { code field } } }", variables)
        assert data["staffLogin"]["token"] is None
        assert [e["code"] for e in data["staffLogin"]["errors"]] == ["INVALID_TEXT"]
    # Nothing was counted against the account: the right password still works.
    assert await client.login("owner")


async def test_customer_endpoint_refuses_control_characters_too(client):
    mp = client.http
    body = (await mp.post("/mp/graphql", json={"query": "mutation($c: String!) { wechatLogin(input: {code: $c}) { token errors { code field } } }",
                                               "variables": {"c": "demo:o_\x00"}})).json()
    assert body["data"]["wechatLogin"] == {"token": None, "errors": [{"code": "INVALID_TEXT", "field": "code"}]}


async def test_multi_line_text_is_accepted(demo):
    from tests.support import open_order

    order = await open_order(demo, [{"serviceId": demo.services["洗剪吹"]["id"]}], note="第一行\n第二行\r\n\t缩进")
    assert order["note"] == "第一行\n第二行\r\n\t缩进"


async def test_a_lone_surrogate_in_a_literal_is_a_syntax_error(demo):
    body = await demo.gql.raw('{ members(search: "\\udfff") { edges { cursor } } }', as_="reception")
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


# ----------------------------------------------------------------------------- the document


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("document", ["{ }", "mutation { }", "query { stores { } }", "{ ... on Query { } }"])
async def test_an_empty_selection_is_a_coded_error(client, path, document):
    response = await client.http.post(path, json={"query": document})
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["EMPTY_SELECTION"]
    assert "max()" not in response.text


MEMBERS_AND_TRANSACTIONS = "members(first: {m}) {{ edges {{ node {{ id transactions(first: {t}) {{ edges {{ node {{ amount }} }} }} }} }} }}"


async def test_a_costly_document_is_refused_before_it_runs(demo):
    aliased = "{ " + " ".join(f"a{i}: " + MEMBERS_AND_TRANSACTIONS.format(m=100, t=100) for i in range(30)) + " }"
    body = await demo.gql.raw(aliased, as_="technician", lang="en")
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COSTLY"]
    assert "estimated 609030" in body["errors"][0]["message"]
    # One page of 100 members with 100 transactions each: 1 + 100 × (2 + 1 + 100 × 2) = 20,301.
    body = await demo.gql.raw("{ " + MEMBERS_AND_TRANSACTIONS.format(m=100, t=100) + " }", as_="owner")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY" and MAX_COST < 20_301
    # A page of 100 members with 20 transactions each is an ordinary screen.
    assert "members" in await demo.gql("{ " + MEMBERS_AND_TRANSACTIONS.format(m=100, t=20) + " }", as_="owner")
    # `first` from a variable counts as its default, or as the largest page without one.
    doc = "query($m: Int%s) { " + MEMBERS_AND_TRANSACTIONS.format(m="$m", t=100) + " }"
    assert "members" in await demo.gql(doc % " = 10", as_="owner")
    body = await demo.gql.raw(doc % "", {"m": 10}, as_="owner")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_cost_through_fragments_and_a_fragment_bomb(demo):
    fragments = "fragment T on Member { transactions(first: 100) { edges { node { amount } } } } "
    body = await demo.gql.raw(fragments + "{ members(first: 100) { edges { node { ...T } } } }", as_="owner")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    # Each fragment spreads the next twice: 2^25 walks unless the count stops early.
    bomb = " ".join(f"fragment F{i} on Query {{ __typename ...F{i + 1} ...F{i + 1} }}" for i in range(25)) + " fragment F25 on Query { __typename }"
    body = await demo.gql.raw(bomb + " { ...F0 }", as_="owner")
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


@pytest.mark.parametrize("connection", [
    "members(first: {n}) {{ edges {{ cursor }} }}",
    "auditLog(first: {n}) {{ edges {{ cursor }} }}",
    'member(id: "{member}") {{ transactions(first: {n}) {{ edges {{ cursor }} }} }}',
])
async def test_every_connection_caps_first_at_100(demo, connection):
    member = (await demo.register())["id"]
    for n, ok in ((100, True), (101, False), (0, False), (-1, False)):
        body = await demo.gql.raw("{ " + connection.format(n=n, member=member) + " }", as_="owner")
        if ok:
            assert "errors" not in body, body
        else:
            assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [("INVALID_VALUE", "first")]


# ------------------------------------------------------------------------------------- the log


async def test_client_errors_are_one_line_and_bugs_keep_their_traceback(demo, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="meiye.graphql")
    for document in ("{ nope }", "{ }", "{ members(first: 101) { edges { cursor } } }", "query($s: String) { members(search: $s) { edges { cursor } } }"):
        await demo.gql.raw(document, {"s": "\x00"}, as_="reception")
    await demo.gql.raw("{ stores { id } }")  # UNAUTHENTICATED
    records = [r for r in caplog.records if r.name.startswith("meiye") or r.name.startswith("strawberry")]
    assert records and all(r.levelno < logging.ERROR and r.exc_info is None for r in records), [(r.levelname, r.getMessage()) for r in records]
    assert {r.getMessage().split()[2].rstrip(":") for r in records} == {"GRAPHQL_VALIDATION_FAILED", "EMPTY_SELECTION", "INVALID_VALUE", "INVALID_TEXT", "UNAUTHENTICATED"}

    caplog.clear()
    from resolvers import members as member_resolvers

    async def broken(*_args, **_kwargs):
        raise RuntimeError("a bug with a secret detail")

    monkeypatch.setattr(member_resolvers, "search_members", broken)
    body = await demo.gql.raw("{ members { edges { cursor } } }", as_="reception")
    assert body["data"] is None and body["errors"][0]["message"] == "Internal error / 服务器内部错误"
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL_ERROR"}
    assert "secret" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
    bugs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(bugs) == 1 and bugs[0].exc_info is not None and bugs[0].exc_info[0] is RuntimeError


# -------------------------------------------------------------------------------- the stand-ins


async def test_demo_pay_of_an_unknown_order_is_a_404():
    app = Starlette(routes=StandIns(generate_demo_keys()).routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standins") as http:
        for platform in ("wechatpay", "alipay"):
            response = await http.post(f"/_standins/{platform}/demo/pay/NO-SUCH-ORDER")
            assert response.status_code == 404, response.text
            assert response.json()


def test_the_text_guard_hooks_fields_only_when_a_request_could_carry_a_control_character():
    from types import SimpleNamespace

    from schema.text_guard import TextGuard

    def hooks(query: str, variables: dict | None = None) -> bool:
        guard = TextGuard()
        guard.execution_context = SimpleNamespace(query=query, variables=variables)
        return guard._implements_resolve()

    assert hooks('{ member(id: "TWVtYmVyOjE=") { name } }', {}) is False
    assert hooks('query($id: ID!) { member(id: $id) { name } }', {"id": "TWVtYmVyOjE="}) is False
    assert hooks('{ members(search: "a\\u0000") { totalCount } }') is True  # an escape in a literal
    assert hooks('{ members(search: "a\x07") { totalCount } }') is True
    assert hooks('query($s: String) { members(search: $s) { totalCount } }', {"s": ["ok", {"x": "\x1b"}]}) is True
