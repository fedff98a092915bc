"""`meiye serve --demo` pointed by the README's environment variables at someone else's stand-ins of
WeChat Pay and Alipay, with key files they configure: as the acceptance client runs it. Payments
go to those stand-ins, their signed callbacks credit once, and forged ones change nothing."""

import asyncio
import os
import uuid

import httpx
import pytest
from starlette.applications import Starlette

from integrations.standins import StandIns, StandInServer, generate_demo_keys
from tests.live_server import cli_env, login, run_cli, sqlite_url, start_server

pytestmark = pytest.mark.skipif(bool(os.environ.get("MEIYE_TEST_DATABASE_URL")), reason="runs in the SQLite half")

APP_ID, MCH_ID, ALI_APP = "wx1111222233334444", "1900001234", "2021009999999999"


async def mp(http, query, variables=None, token=None):
    response = await http.post("/mp/graphql", json={"query": query, "variables": variables or {}},
                               headers={"authorization": f"Bearer {token}"} if token else {})
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def test_demo_pointed_at_external_stand_ins_by_environment(tmp_path):
    keys = generate_demo_keys()
    theirs = StandIns(keys, wechat_app_id=APP_ID, wechat_mch_id=MCH_ID, alipay_app_id=ALI_APP)
    files = {
        "wx_key": keys.wechat_merchant_private_key_pem, "wx_platform": keys.wechat_platform_public_key_pem,
        "ali_key": keys.alipay_app_private_key_pem, "ali_platform": keys.alipay_public_key_pem,
    }
    for name, pem in files.items():
        (tmp_path / f"{name}.pem").write_text(pem)
    with StandInServer(Starlette(routes=theirs.routes())) as platform:
        base = platform.base_url + "/_standins"
        env = cli_env(
            MEIYE_WECHAT_APPID=APP_ID, MEIYE_WECHAT_SECRET=keys.wechat_app_secret,
            MEIYE_WECHATPAY_MCHID=MCH_ID, MEIYE_WECHATPAY_PRIVATE_KEY_FILE=str(tmp_path / "wx_key.pem"),
            MEIYE_WECHATPAY_CERT_SERIAL=keys.wechat_merchant_cert_serial, MEIYE_WECHATPAY_APIV3_KEY=keys.wechat_apiv3_key,
            MEIYE_WECHATPAY_PUBLIC_KEY_FILE=str(tmp_path / "wx_platform.pem"), MEIYE_WECHATPAY_PUBLIC_KEY_ID=keys.wechat_platform_public_key_id,
            MEIYE_WECHATPAY_API_BASE=f"{base}/wechatpay",
            MEIYE_ALIPAY_APPID=ALI_APP, MEIYE_ALIPAY_PRIVATE_KEY_FILE=str(tmp_path / "ali_key.pem"),
            MEIYE_ALIPAY_PUBLIC_KEY_FILE=str(tmp_path / "ali_platform.pem"), MEIYE_ALIPAY_GATEWAY=f"{base}/alipay/gateway.do",
            MEIYE_ALIPAY_AES_KEY=keys.alipay_aes_key,
        )
        server = start_server(sqlite_url(tmp_path / "env.db"), tmp_path / "server.log", demo=True, env=env)
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                desk = await login(http, "reception")
                stores = (await http.post("/graphql", json={"query": "{ stores { id name } }"}, headers={"authorization": f"Bearer {desk}"})).json()
                jingan = next(s["id"] for s in stores["data"]["stores"] if s["name"] == "静安店")

                wx = (await mp(http, 'mutation { wechatLogin(input: {code: "demo:o_env"}) { token errors { code } } }'))["wechatLogin"]["token"]
                await mp(http, 'mutation { bindPhone(input: {phoneCode: "demo-phone:13800138000", consent: true}) { errors { code } } }', token=wx)
                top = """mutation($i: MpTopUpInput!) { topUp(input: $i) { payment { status amount outTradeNo alipayTradeNo wechatPayParams { appId paySign } } errors { code } } }"""
                paid = (await mp(http, top, {"i": {"amount": 100_000, "storeId": jingan, "payWith": "WECHAT", "idempotencyKey": uuid.uuid4().hex}}, token=wx))["topUp"]
                assert paid["errors"] == [] and paid["payment"]["wechatPayParams"]["appId"] == APP_ID
                no = paid["payment"]["outTradeNo"]
                assert no in theirs.wechatpay.orders  # the order went to their stand-in
                forged = StandIns(generate_demo_keys(), wechat_app_id=APP_ID, wechat_mch_id=MCH_ID)
                forged.wechatpay.orders[no] = theirs.wechatpay.orders[no]
                headers, body = forged.wechatpay.callback_for(no)
                assert (await http.post(f"/notify/wechatpay/{APP_ID}", content=body, headers=headers)).status_code >= 400
                headers, body = theirs.wechatpay.callback_for(no)
                replies = await asyncio.gather(*[http.post(f"/notify/wechatpay/{APP_ID}", content=body, headers=headers) for _ in range(8)])
                assert {r.status_code for r in replies} == {204}

                ali = (await mp(http, 'mutation { alipayLogin(input: {authCode: "demo:2088000000000555"}) { token errors { code } } }'))["alipayLogin"]
                assert ali["errors"] == []
                phone_code = theirs.alipay.phone_response_for("13800138000")
                bound = (await mp(http, "mutation($c: String!) { bindPhone(input: {phoneCode: $c, consent: true}) { errors { code } } }", {"c": phone_code}, token=ali["token"]))
                assert bound["bindPhone"]["errors"] == []
                paid = (await mp(http, top, {"i": {"amount": 30_000, "storeId": jingan, "payWith": "ALIPAY", "idempotencyKey": uuid.uuid4().hex}}, token=ali["token"]))["topUp"]
                assert paid["errors"] == [] and paid["payment"]["alipayTradeNo"]
                theirs.alipay.mark_paid(paid["payment"]["outTradeNo"])
                note = theirs.alipay.notify_for(paid["payment"]["outTradeNo"])
                replies = await asyncio.gather(*[http.post(f"/notify/alipay/{ALI_APP}", content=note.encode(),
                                                           headers={"content-type": "application/x-www-form-urlencoded"}) for _ in range(4)])
                assert [r.text for r in replies] == ["success"] * 4

                me = (await mp(http, "{ me { storedValueCards { principal gift } } }", token=wx))["me"]
                # 张小美's 金卡: the demo's 100000 + 20000, then 100000 (+20000) by WeChat Pay and 30000 by Alipay.
                assert me["storedValueCards"] == [{"principal": 230_000, "gift": 40_000}]
        finally:
            server.stop()
    verified = run_cli("ledger", "verify", "--database", sqlite_url(tmp_path / "env.db"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
