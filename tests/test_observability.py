"""What an operator watches: /metrics, /ready, the request id and the JSON access line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re

import httpx
import pytest

from sqlalchemy import insert, select

from domain import outbox
from domain.brands.stores import stores
from domain.db import create_engine, is_sqlite, utcnow, write_transaction
from domain.members.members import members
from domain.payments.records import payment_intents
from integrations.runtime import PlatformRegistry
from resolvers.ids import parse_global_id
from resolvers.settings import Settings
from schema.app import create_app
from schema.metrics import MAX_OPERATION_NAMES, Metrics
from schema.observability import RequestRecord

LOGIN = "mutation Login($u: String!, $p: String!) { staffLogin(input: {username: $u, password: $p}) { token errors { code } } }"


@pytest.fixture
async def fresh(settings, engine):
    """An app of its own, so that its counters start at zero."""
    application = create_app(settings, engine=engine)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://meiye.test") as http:
            yield http


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus exposition, None when it is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        found = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?", series)
        if found and found.group(1) == name and ",".join(sorted((found.group(2) or "").split(","))).strip(",") == wanted:
            return float(value)
    return None


async def scrape(http) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_named_operations_and_error_codes(fresh):
    for _ in range(3):
        response = await fresh.post("/graphql", json={"query": "query Ping { __typename }"})
        assert response.json() == {"data": {"__typename": "Query"}}
    await fresh.post("/graphql", json={"query": "{ __typename }"})
    await fresh.post("/mp/graphql", json={"query": "query A { __typename } query B { __typename }", "operationName": "B"})
    bad = await fresh.post("/graphql", json={"query": LOGIN, "variables": {"u": "nobody", "p": "wrong-password"}})
    assert bad.json()["data"]["staffLogin"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    await fresh.post("/graphql", json={"query": "{ nope }"})
    await fresh.post("/graphql", content=b"not json", headers={"content-type": "application/json"})

    text = await scrape(fresh)
    assert sample(text, "meiye_graphql_requests_total", endpoint="staff", operation="Ping") == 3
    assert sample(text, "meiye_graphql_requests_total", endpoint="staff", operation="(anonymous)") == 2
    assert sample(text, "meiye_graphql_requests_total", endpoint="customer", operation="B") == 1
    assert sample(text, "meiye_graphql_requests_total", endpoint="staff", operation="Login") == 1
    assert sample(text, "meiye_graphql_requests_total", endpoint="staff", operation="(unparsed)") == 1
    assert sample(text, "meiye_graphql_request_duration_seconds_count", endpoint="staff", operation="Ping") == 3
    assert sample(text, "meiye_errors_total", endpoint="staff", code="INVALID_CREDENTIALS") == 1
    assert sample(text, "meiye_errors_total", endpoint="staff", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert sample(text, "meiye_errors_total", endpoint="staff", code="BAD_REQUEST") == 1
    assert sample(text, "meiye_http_responses_total", status="200") == 7
    assert sample(text, "meiye_http_responses_total", status="400") == 1
    assert sample(text, "meiye_db_pool_checked_out") == 0
    assert sample(text, "meiye_database_up") == 1
    assert sample(text, "meiye_payments_pending") == 0
    assert sample(text, "meiye_notifications_failed") == 0
    assert sample(text, "meiye_outbox_due", consumer="notifications") == 0


async def test_callback_rejections_are_counted_by_channel_and_reason(fresh):
    response = await fresh.post("/notify/wechatpay/wx-nobody", content=b"{}", headers={"x-request-id": "cb-1"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "cb-1"
    await fresh.post("/notify/alipay/nobody", content=b"a=b")
    text = await scrape(fresh)
    assert sample(text, "meiye_payment_callbacks_rejected_total", channel="WECHAT", reason="unknown_account") == 1
    assert sample(text, "meiye_payment_callbacks_rejected_total", channel="ALIPAY", reason="unknown_account") == 1


def test_operation_names_are_capped():
    metrics = Metrics()
    names = [metrics.operation_label(f"Op{i}") for i in range(MAX_OPERATION_NAMES + 5)]
    assert names[:MAX_OPERATION_NAMES] == [f"Op{i}" for i in range(MAX_OPERATION_NAMES)]
    assert names[MAX_OPERATION_NAMES:] == ["(other)"] * 5
    assert metrics.operation_label("Op7") == "Op7"  # one seen before keeps its name
    assert metrics.operation_label(None) == "(anonymous)"
    assert metrics.operation_label("X" * 101) == "(other)"


async def test_a_pending_payment_and_an_outbox_backlog_are_read_at_scrape_time(fresh, engine, demo):
    member = await demo.register("扫码会员", "13800138123")
    async with write_transaction(engine) as db:
        brand_id = (await db.execute(select(members.c.brand_id).where(members.c.id == parse_global_id(member["id"])[1]))).scalar_one()
        store_id = (await db.execute(select(stores.c.id).where(stores.c.brand_id == brand_id))).scalars().first()
        now = utcnow()
        await db.execute(insert(payment_intents).values(
            brand_id=brand_id, member_id=parse_global_id(member["id"])[1], store_id=store_id, channel="WECHAT", purpose="TOP_UP", item_id=1,
            amount=100, out_trade_no="T-metrics-1", app_id="wx1", payer_id="o1", status="PENDING", expires_at=now, created_at=now,
        ))
        await outbox.emit(db, brand_id=brand_id, kind="order.paid", dedupe_key="metrics:1", payload={}, due_at=now - dt.timedelta(minutes=1))
        await outbox.emit(db, brand_id=brand_id, kind="order.paid", dedupe_key="metrics:2", payload={}, due_at=now + dt.timedelta(hours=1))
    text = await scrape(fresh)
    assert sample(text, "meiye_payments_pending") == 1
    assert sample(text, "meiye_outbox_due", consumer="marketing.referrals") == 1


@pytest.mark.parametrize("request_id, echoed", [("abc-123.X_y", True), ("a" * 64, True), ("a" * 65, False), ("bad id", False), ("é".encode(), False), ("a/b<script>", False), ("", False)])
async def test_request_id_is_echoed_when_sane_and_replaced_otherwise(fresh, request_id, echoed):
    for method, path, body in (("GET", "/health", None), ("POST", "/graphql", {"query": "{ __typename }"}),
                               ("POST", "/mp/graphql", {"query": "{ __typename }"}), ("POST", "/notify/alipay/x", None)):
        response = await fresh.request(method, path, json=body, headers={"x-request-id": request_id})
        got = response.headers["x-request-id"]
        if echoed:
            assert got == request_id
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", got), got


async def test_one_json_access_line_per_request_with_the_same_id(fresh, caplog):
    with caplog.at_level(logging.INFO, logger="meiye.access"):
        response = await fresh.post("/graphql", json={"query": LOGIN, "variables": {"u": "nobody", "p": "x"}}, headers={"x-request-id": "req-42"})
        health = await fresh.get("/health")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "meiye.access"]
    assert len(lines) == 2
    first, second = lines
    assert response.headers["x-request-id"] == first["request_id"] == "req-42"
    assert {k: first[k] for k in ("method", "path", "status", "operation", "errors")} == {
        "method": "POST", "path": "/graphql", "status": 200, "operation": "Login", "errors": ["INVALID_CREDENTIALS"],
    }
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert second["request_id"] == health.headers["x-request-id"]
    assert {k: second[k] for k in ("method", "path", "status")} == {"method": "GET", "path": "/health", "status": 200}
    assert "operation" not in second and "errors" not in second


async def test_a_bug_no_layer_answered_is_a_coded_json_500_with_the_request_id(fresh, caplog, monkeypatch):
    from schema.app import GraphQLEndpoint

    async def broken(*_args, **_kwargs):
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(GraphQLEndpoint, "answer_post", broken)
    with caplog.at_level(logging.INFO):
        response = await fresh.post("/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "req-500"})
    assert response.status_code == 500 and response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "req-500"
    assert response.json() == {"data": None, "errors": [{"message": "Internal error / 服务器内部错误", "extensions": {"code": "INTERNAL_ERROR"}}]}
    assert "secret detail" not in response.text
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "meiye.access"]
    assert (line["request_id"], line["status"], line["errors"]) == ("req-500", 500, ["INTERNAL_ERROR"])
    assert any("req-500" in r.getMessage() and r.exc_info for r in caplog.records if r.name == "meiye")
    assert sample(await scrape(fresh), "meiye_errors_total", endpoint="staff", code="INTERNAL_ERROR") == 1


async def test_ready_answers_200_on_a_working_database(fresh):
    response = await fresh.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_ready_answers_503_with_a_code_when_the_database_is_down(settings, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db" if is_sqlite(settings.database_url) else "postgresql+asyncpg://postgres@127.0.0.1:1/x"
    dead = create_engine(url)
    # The platforms are read from the database at startup; the database goes away later.
    application = create_app(dataclasses.replace(settings, database_url=url), engine=dead, platforms=PlatformRegistry())
    try:
        async with application.router.lifespan_context(application):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://meiye.test") as http:
                response = await http.get("/ready")
                assert (response.status_code, response.json()) == (503, {"status": "unavailable", "code": "DATABASE_UNAVAILABLE"})
                assert (await http.get("/health")).status_code == 200  # liveness never asks the database
                text = await scrape(http)
                assert sample(text, "meiye_database_up") == 0
                assert sample(text, "meiye_payments_pending") is None
    finally:
        await dead.dispose()


@pytest.mark.parametrize("header, status", [(None, 401), ("Bearer wrong-token", 401), ("Basic s3cret-metrics-token", 401), ("Bearer s3cret-metrics-token", 200)])
async def test_production_metrics_need_the_token(engine, header, status):
    production = Settings(env="production", secret_key="s" * 40, data_key="d" * 40, metrics_token="s3cret-metrics-token")
    application = create_app(production, engine=engine)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://meiye.test") as http:
            response = await http.get("/metrics", headers={"authorization": header} if header else {})
    assert response.status_code == status
    if status == 401:
        assert response.json() == {"status": "unauthorized", "code": "UNAUTHENTICATED"}
    else:
        assert "meiye_http_responses_total" in response.text


async def test_production_without_a_token_refuses_metrics_to_everyone(engine):
    production = Settings(env="production", secret_key="s" * 40, data_key="d" * 40)
    application = create_app(production, engine=engine)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://meiye.test") as http:
            assert (await http.get("/metrics", headers={"authorization": "Bearer "})).status_code == 401


async def test_responses_are_utf8_json(fresh):
    query = LOGIN.replace("errors { code }", "errors { code message }")
    response = await fresh.post("/graphql", json={"query": query, "variables": {"u": "nobody", "p": "x"}})
    assert response.headers["content-type"] == "application/json"
    message = response.json()["data"]["staffLogin"]["errors"][0]["message"]
    assert re.search("[\u4e00-\u9fff]", message) and message.encode() in response.content  # Chinese as UTF-8, not \\u escapes


def test_a_record_starts_unparsed():
    record = RequestRecord("x", "staff")
    assert (record.parsed, record.operation, record.codes) == (False, None, [])


async def test_the_server_freezes_its_startup_objects_once_they_are_built(settings, engine, monkeypatch):
    import schema.app

    calls = []
    monkeypatch.setattr(schema.app.gc, "collect", lambda: calls.append("collect"))
    monkeypatch.setattr(schema.app.gc, "freeze", lambda: calls.append("freeze"))
    application = create_app(settings, engine=engine, freeze_gc=True)
    async with application.router.lifespan_context(application):
        assert calls == ["collect", "freeze"]
    plain = create_app(settings, engine=engine)
    async with plain.router.lifespan_context(plain):
        assert calls == ["collect", "freeze"]  # tests' apps never freeze


async def test_a_bug_counts_once_as_internal_error(fresh, demo, monkeypatch):
    from resolvers import members as member_resolvers

    async def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(member_resolvers, "search_members", broken)
    token = demo.gql.tokens["reception"]
    body = (await fresh.post("/graphql", json={"query": "query Find { members { edges { cursor } } }"}, headers={"authorization": f"Bearer {token}"})).json()
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL_ERROR"}
    text = await scrape(fresh)
    assert sample(text, "meiye_errors_total", endpoint="staff", code="INTERNAL_ERROR") == 1
    assert sample(text, "meiye_graphql_requests_total", endpoint="staff", operation="Find") == 1
