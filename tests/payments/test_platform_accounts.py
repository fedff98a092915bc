"""Demo mode beside the user's own WeChat Pay / Alipay account from the environment: a configured
account takes nothing from the built-in stand-ins (their seller id made every real callback of the
user's Alipay app a mismatch, never credited)."""

import asyncio

import httpx
from starlette.applications import Starlette

from domain.members.customers import Channel
from integrations import runtime
from integrations.demo import DemoStandins
from integrations.standins import (
    DEMO_ALIPAY_SELLER_ID,
    StandIns,
    StandInServer,
    generate_demo_keys,
)
from schema.app import create_app, make_services

ALI_APP, REAL_SELLER, WX_APP, WX_MCH = "2021009999999999", "2088123456789012", "wx1111222233334444", "1900001234"


def _alipay_env(tmp_path, keys, gateway: str, **extra) -> dict:
    (tmp_path / "ali_key.pem").write_text(keys.alipay_app_private_key_pem)
    (tmp_path / "ali_platform.pem").write_text(keys.alipay_public_key_pem)
    return {"MEIYE_ALIPAY_APPID": ALI_APP, "MEIYE_ALIPAY_PRIVATE_KEY_FILE": str(tmp_path / "ali_key.pem"),
            "MEIYE_ALIPAY_PUBLIC_KEY_FILE": str(tmp_path / "ali_platform.pem"), "MEIYE_ALIPAY_GATEWAY": gateway, **extra}


def test_a_configured_account_takes_no_setting_from_the_stand_ins(tmp_path):
    keys = generate_demo_keys()
    ours = DemoStandins("http://127.0.0.1:8000")
    alipay = runtime.account_config(Channel.ALIPAY, ours.config(Channel.ALIPAY), _alipay_env(tmp_path, keys, "https://openapi.alipay.com/gateway.do"))
    assert alipay == {"app_id": ALI_APP, "app_private_key_pem": keys.alipay_app_private_key_pem, "alipay_public_key_pem": keys.alipay_public_key_pem,
                      "gateway": "https://openapi.alipay.com/gateway.do"}
    with_seller = runtime.account_config(Channel.ALIPAY, ours.config(Channel.ALIPAY), _alipay_env(tmp_path, keys, "https://x", MEIYE_ALIPAY_SELLER_ID=REAL_SELLER))
    assert with_seller["seller_id"] == REAL_SELLER

    (tmp_path / "wx_key.pem").write_text(keys.wechat_merchant_private_key_pem)
    wechat = runtime.account_config(Channel.WECHAT, ours.config(Channel.WECHAT), {
        "MEIYE_WECHAT_APPID": WX_APP, "MEIYE_WECHATPAY_MCHID": WX_MCH, "MEIYE_WECHATPAY_PRIVATE_KEY_FILE": str(tmp_path / "wx_key.pem")})
    pay_keys = set(runtime.ACCOUNT_KEYS[Channel.WECHAT])
    assert {k: v for k, v in wechat.items() if k in pay_keys} == {"mch_id": WX_MCH, "private_key_pem": keys.wechat_merchant_private_key_pem}
    # Mini-program login is not the merchant account: the demo's login stand-in still serves the app.
    assert wechat["app_id"] == WX_APP and wechat["api_base"] == ours.config(Channel.WECHAT)["api_base"]

    # Nothing configured: the stand-in's account whole; a piece set alone overrides that piece.
    assert runtime.account_config(Channel.ALIPAY, ours.config(Channel.ALIPAY), {}) == ours.config(Channel.ALIPAY)
    assert runtime.account_config(Channel.ALIPAY, ours.config(Channel.ALIPAY), {"MEIYE_ALIPAY_GATEWAY": "http://elsewhere"})["seller_id"] == DEMO_ALIPAY_SELLER_ID


async def test_demo_mode_credits_the_users_own_alipay_app(tmp_path, demo, settings, engine, monkeypatch):
    """The reported case: demo mode, the user's Alipay app (here someone else's stand-in with its own
    seller id) in the environment without MEIYE_ALIPAY_SELLER_ID; five valid notifications of a
    ¥500 top-up credit it once."""
    keys = generate_demo_keys()
    theirs = StandIns(keys, alipay_app_id=ALI_APP, alipay_seller_id=REAL_SELLER)
    with StandInServer(Starlette(routes=theirs.routes())) as platform:
        for name, value in _alipay_env(tmp_path, keys, f"{platform.base_url}/_standins/alipay/gateway.do", MEIYE_ALIPAY_AES_KEY=keys.alipay_aes_key).items():
            monkeypatch.setenv(name, value)
        services = make_services(settings, engine)
        registry = await runtime.setup(services, settings, DemoStandins("http://meiye.test"))
        app_config = registry.by_app_id(Channel.ALIPAY, ALI_APP)
        assert app_config.merchant_id is None and app_config.gateway.config.seller_id is None and not app_config.demo_phone_codes

        app = create_app(settings, engine=engine, platforms=registry)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meiye.test") as http:
            async def mp(query, variables=None, token=None):
                body = (await http.post("/mp/graphql", json={"query": query, "variables": variables or {}},
                                        headers={"authorization": f"Bearer {token}"} if token else {})).json()
                assert not body.get("errors"), body
                return body["data"]

            token = (await mp('mutation { alipayLogin(input: {authCode: "demo:2088000000000777"}) { token } }'))["alipayLogin"]["token"]
            bound = await mp("mutation($c: String!) { bindPhone(input: {phoneCode: $c, consent: true}) { errors { code } } }",
                             {"c": theirs.alipay.phone_response_for("13900001111")}, token=token)
            assert bound["bindPhone"]["errors"] == []
            paid = (await mp("""mutation($i: MpTopUpInput!) { topUp(input: $i) { payment { outTradeNo } errors { code } } }""",
                             {"i": {"amount": 50_000, "storeId": demo.jingan, "payWith": "ALIPAY", "idempotencyKey": "own-app"}}, token=token))["topUp"]
            assert paid["errors"] == [], paid
            no = paid["payment"]["outTradeNo"]
            theirs.alipay.mark_paid(no)
            note = theirs.alipay.notify_for(no)
            assert REAL_SELLER in note
            replies = await asyncio.gather(*[http.post(f"/notify/alipay/{ALI_APP}", content=note.encode(),
                                                       headers={"content-type": "application/x-www-form-urlencoded"}) for _ in range(5)])
            assert [r.text for r in replies] == ["success"] * 5
            cards = (await mp("{ me { storedValueCards { principal } } }", token=token))["me"]["storedValueCards"]
            assert cards == [{"principal": 50_000}]
