"""The acceptance path for real: `meiye serve --demo` with its built-in WeChat stand-in, a customer
logged in and bound through it, one ACCEPT, a desk top-up, and `meiye worker --once` as its own
process sending exactly one subscribe message; a second run sends nothing more."""

import os

import httpx
import pytest

from tests.live_server import cli_env, graphql, login, run_cli, sqlite_url, start_server

pytestmark = pytest.mark.skipif(bool(os.environ.get("MEIYE_TEST_DATABASE_URL")), reason="runs in the SQLite half")


async def mp(http, query, variables=None, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = (await http.post("/mp/graphql", json={"query": query, "variables": variables or {}}, headers=headers)).json()
    assert not body.get("errors"), body
    return body["data"]


async def test_worker_process_sends_one_message_through_the_demo_stand_in(tmp_path):
    url = sqlite_url(tmp_path / "notify.db")
    server = start_server(url, tmp_path / "server.log", demo=True)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            owner = await login(http, "owner")
            desk = await login(http, "reception")
            set_template = await graphql(http, """mutation { setNotificationTemplate(input: {kind: BALANCE_CHANGED, templateId: "tmpl_balance_demo",
                page: "pages/card/index", fields: [{key: "amount1", value: "{balance}"}, {key: "thing2", value: "{store}"}, {key: "time3", value: "{time}"}]})
                { template { templateId } errors { code } } }""", token=owner)
            assert set_template["data"]["setNotificationTemplate"]["errors"] == []
            ids = (await graphql(http, "{ stores { id name } storedValueCardProducts { id name } }", token=desk))["data"]
            jingan = next(s["id"] for s in ids["stores"] if s["name"] == "静安店")
            gold = next(p["id"] for p in ids["storedValueCardProducts"] if p["name"] == "金卡")
            reg = await graphql(http, "mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code } } }",
                                {"i": {"name": "周琳", "phone": "13912345678", "storeId": jingan, "consent": True}}, token=desk)
            member_id = reg["data"]["registerMember"]["member"]["id"]
            token = (await mp(http, 'mutation { wechatLogin(input: {code: "demo:o_zhoulin"}) { token } }'))["wechatLogin"]["token"]
            await mp(http, 'mutation { bindPhone(input: {phoneCode: "demo-phone:13912345678", consent: true}) { member { id } } }', token=token)
            templates = (await mp(http, "{ notificationTemplates { kind templateId } }", token=token))["notificationTemplates"]
            accepted = await mp(http, "mutation($i: ReportSubscriptionsInput!) { reportSubscriptions(input: $i) { quotas { remaining } errors { code } } }",
                                {"i": {"results": [{"templateId": templates[0]["templateId"], "status": "ACCEPT"}]}}, token=token)
            assert accepted["reportSubscriptions"] == {"quotas": [{"remaining": 1}], "errors": []}
            top_up = "mutation($i: TopUpInput!) { topUp(input: $i) { errors { code } } }"
            await graphql(http, top_up, {"i": {"memberId": member_id, "storeId": jingan, "amount": 100_000, "tender": "CASH", "idempotencyKey": "n-1", "cardProductId": gold}}, token=desk)

            # The worker is told only where WeChat is: it keeps the app id and secret `serve` stored.
            env = cli_env(MEIYE_PUBLIC_URL=server.base_url, MEIYE_WECHAT_API_BASE=f"{server.base_url}/_standins/wechat")
            first = run_cli("worker", "--once", "--database", url, env=env)
            assert first.returncode == 0, first.stderr
            assert "'notifications_sent': 1" in first.stdout, first.stdout
            messages = (await http.get("/_standins/wechat/demo/messages")).json()["messages"]
            assert len(messages) == 1
            (message,) = messages
            assert (message["touser"], message["template_id"], message["page"]) == ("o_zhoulin", "tmpl_balance_demo", "pages/card/index")
            assert message["data"]["amount1"] == {"value": "¥1,200.00"} and message["data"]["thing2"] == {"value": "静安店"}

            await graphql(http, top_up, {"i": {"memberId": member_id, "storeId": jingan, "amount": 5_000, "tender": "CASH", "idempotencyKey": "n-2", "cardProductId": gold}}, token=desk)
            second = run_cli("worker", "--once", "--database", url, env=env)
            assert "'notifications_sent': 0" in second.stdout and "'notifications_skipped': 1" in second.stdout, second.stdout
            assert len((await http.get("/_standins/wechat/demo/messages")).json()["messages"]) == 1
            listed = await graphql(http, "{ notifications(first: 10) { edges { node { status lastError } } } }", token=owner)
            mine = [e["node"] for e in listed["data"]["notifications"]["edges"] if e["node"]["status"] in ("SENT", "SKIPPED") and e["node"]["lastError"] != "NO_TEMPLATE_OR_IDENTITY"]
            assert mine == [{"status": "SKIPPED", "lastError": "NO_QUOTA"}, {"status": "SENT", "lastError": None}]
    finally:
        server.stop()
