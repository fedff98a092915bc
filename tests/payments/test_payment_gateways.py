"""The payment and login gateways against local stand-ins that sign and encrypt like WeChat and
Alipay (keys generated here), through the real SDKs: every row of payments.md's "What the SDKs do
not do for you" at the gateway level. No database is involved."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from domain.members.customers import Channel
from domain.payments.types import CallbackRejected, EventKind, TradeState
from integrations.alipay import AlipayError, AlipayGateway, fen_to_yuan, yuan_to_fen
from integrations.standins import (
    AlipayStandIn,
    StandIns,
    StandInServer,
    WeChatPayStandIn,
    generate_demo_keys,
)
from integrations.standins.keys import load_public, new_rsa_key, private_pem, sign_b64
from integrations.wechat_login import PlatformError
from integrations.wechat_pay import WeChatPayError, WeChatPayGateway

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_database():
    """These tests touch no database: replace conftest's autouse fixture that empties one."""
    yield


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def expiry() -> dt.datetime:
    return utcnow() + dt.timedelta(minutes=15)


@pytest.fixture(scope="module")
def env():
    standins = StandIns(generate_demo_keys())
    # Platforms that sign their answers with a key we do not trust (everything else the same).
    other = generate_demo_keys()
    forged_keys = dataclasses.replace(standins.keys, wechat_platform_private_key_pem=other.wechat_platform_private_key_pem,
                                      alipay_private_key_pem=other.alipay_private_key_pem)
    received: list = []
    holder = SimpleNamespace()

    async def wechat_notify(request: Request) -> Response:
        try:
            received.append(holder.gateways.wechat_pay.parse_notification(request.headers, await request.body(), utcnow()))
        except CallbackRejected:
            return Response(status_code=400)
        return Response(status_code=204)

    async def alipay_notify(request: Request) -> Response:
        try:
            received.append(holder.gateways.alipay.parse_notification(request.headers, await request.body(), utcnow()))
        except CallbackRejected:
            return PlainTextResponse("fail")
        return PlainTextResponse("success")

    app = Starlette(routes=[
        *standins.routes(),
        Mount("/forged/wechatpay", app=WeChatPayStandIn(forged_keys)),
        Mount("/forged/alipay", app=AlipayStandIn(forged_keys)),
        Route("/merchant/wechat-notify", wechat_notify, methods=["POST"]),
        Route("/merchant/alipay-notify", alipay_notify, methods=["POST"]),
    ])
    with StandInServer(app) as server:
        base = server.base_url
        holder.gateways = standins.gateways(base, wechat_notify_url=f"{base}/merchant/wechat-notify", alipay_notify_url=f"{base}/merchant/alipay-notify")
        yield SimpleNamespace(standins=standins, keys=standins.keys, base=base, wx=holder.gateways.wechat_pay, ali=holder.gateways.alipay,
                              login=holder.gateways.login, other=other, received=received)


# ---------------------------------------------------------------- WeChat Pay: API round trip


async def test_wechat_create_query_close_round_trip(env):
    params = await env.wx.create_trade(out_trade_no="WX-RT-1", description="美发-洗剪吹", amount=5800, payer_id="o_buyer", expires_at=expiry())
    order = env.standins.wechatpay.orders["WX-RT-1"]["request"]
    assert order["amount"] == {"total": 5800, "currency": "CNY"} and order["payer"] == {"openid": "o_buyer"}
    assert order["description"] == "美发-洗剪吹" and order["notify_url"].endswith("/merchant/wechat-notify")
    assert order["time_expire"].endswith("+08:00")
    assert params.package == "prepay_id=" + env.standins.wechatpay.orders["WX-RT-1"]["prepay_id"]
    assert (params.app_id, params.sign_type) == ("wx0123456789abcdef", "RSA")

    pending = await env.wx.query("WX-RT-1")
    assert (pending.state, pending.amount, pending.platform_trade_no) == (TradeState.PENDING, 5800, None)
    env.standins.wechatpay.mark_paid("WX-RT-1")
    paid = await env.wx.query("WX-RT-1")
    assert (paid.channel, paid.kind, paid.state, paid.amount) == (Channel.WECHAT, EventKind.PAYMENT, TradeState.PAID, 5800)
    assert paid.platform_trade_no == env.standins.wechatpay.orders["WX-RT-1"]["transaction_id"]
    assert (paid.app_id, paid.merchant_id) == ("wx0123456789abcdef", "1900000109") and paid.paid_at is not None

    await env.wx.create_trade(out_trade_no="WX-RT-2", description="染发", amount=1, payer_id="o_buyer", expires_at=expiry())
    await env.wx.close("WX-RT-2")
    assert (await env.wx.query("WX-RT-2")).state == TradeState.CLOSED
    await env.wx.close("WX-RT-2")  # closing twice is harmless
    assert await env.wx.query("WX-NEVER-CREATED") is None
    with pytest.raises(WeChatPayError) as paid_close:
        await env.wx.close("WX-RT-1")
    assert paid_close.value.code == "ORDERPAID"


async def test_wechat_pay_sign_verifies_with_merchant_public_key(env):
    params = await env.wx.create_trade(out_trade_no="WX-SIGN-1", description="烫发", amount=29900, payer_id="o_buyer", expires_at=expiry())
    message = f"{params.app_id}\n{params.time_stamp}\n{params.nonce_str}\n{params.package}\n".encode()
    merchant_public = load_public(env.keys.wechat_merchant_public_key_pem)
    merchant_public.verify(base64.b64decode(params.pay_sign), message, padding.PKCS1v15(), hashes.SHA256())  # raises if wrong


@pytest.mark.parametrize(("wechat_state", "state"), [
    ("SUCCESS", TradeState.PAID), ("NOTPAY", TradeState.PENDING), ("USERPAYING", TradeState.PENDING), ("CLOSED", TradeState.CLOSED),
    ("REVOKED", TradeState.CLOSED), ("PAYERROR", TradeState.CLOSED), ("REFUND", TradeState.REFUNDED),
])
async def test_wechat_query_maps_every_trade_state(env, wechat_state, state):
    no = f"WX-STATE-{wechat_state}"
    await env.wx.create_trade(out_trade_no=no, description="护理", amount=100, payer_id="o_buyer", expires_at=expiry())
    env.standins.wechatpay.set_state(no, wechat_state)
    assert (await env.wx.query(no)).state == state


async def test_wechat_answer_signed_by_an_untrusted_key_is_refused(env):
    forged = WeChatPayGateway(dataclasses.replace(env.wx.config, api_base=f"{env.base}/forged/wechatpay"))
    with pytest.raises(WeChatPayError) as e:
        await forged.create_trade(out_trade_no="WX-FORGED-1", description="x", amount=100, payer_id="o", expires_at=expiry())
    assert e.value.code == "SDK_ERROR"


async def test_wechat_amount_must_be_whole_fen(env):
    for bad in (0, -1, 1.5, True, "100"):
        with pytest.raises(ValueError):
            await env.wx.create_trade(out_trade_no="WX-BAD", description="x", amount=bad, payer_id="o", expires_at=expiry())


# ---------------------------------------------------------------- WeChat Pay: callbacks


@pytest.fixture(scope="module")
async def paid_order(env):
    await env.wx.create_trade(out_trade_no="WX-CB-1", description="洗剪吹", amount=5800, payer_id="o_cb", expires_at=expiry())
    env.standins.wechatpay.mark_paid("WX-CB-1")
    return "WX-CB-1"


def test_wechat_valid_callback_parses(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order, event_id="EV-1")
    n = env.wx.parse_notification(headers, body, utcnow())
    order = env.standins.wechatpay.orders[paid_order]
    assert (n.channel, n.kind, n.state, n.event_id, n.out_trade_no) == (Channel.WECHAT, EventKind.PAYMENT, TradeState.PAID, "EV-1", paid_order)
    assert (n.amount, n.app_id, n.merchant_id, n.platform_trade_no) == (5800, "wx0123456789abcdef", "1900000109", order["transaction_id"])
    assert n.refund_amount is None and n.paid_at is not None


def test_wechat_callback_headers_in_any_letter_case(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    assert env.wx.parse_notification({k.lower(): v for k, v in headers.items()}, body, utcnow()).state == TradeState.PAID
    assert env.wx.parse_notification({k.upper(): v for k, v in headers.items()}, body, utcnow()).state == TradeState.PAID


def test_wechat_callback_passes_foreign_merchant_and_amount_through_for_the_domain_to_flag(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order, amount=1, mchid="1999999999", appid="wxforeign")
    n = env.wx.parse_notification(headers, body, utcnow())
    assert (n.amount, n.merchant_id, n.app_id) == (1, "1999999999", "wxforeign")


def rejected(env, headers, body, now=None) -> str:
    with pytest.raises(CallbackRejected) as e:
        env.wx.parse_notification(headers, body, now or utcnow())
    return e.value.reason


def test_wechat_tampered_body_rejected(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    assert "signature" in rejected(env, headers, body.replace(b'"summary":"', b'"summary":"x'))


def test_wechat_signature_by_another_key_rejected(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{body.decode()}\n"
    assert "signature" in rejected(env, {**headers, "Wechatpay-Signature": sign_b64(new_rsa_key(), message)}, body)


def test_wechat_resource_encrypted_with_another_apiv3_key_rejected(env, paid_order):
    resource = env.standins.wechatpay.transaction(paid_order)
    headers, body = env.standins.wechatpay.encrypted_callback(resource, event_type="TRANSACTION.SUCCESS", original_type="transaction",
                                                              summary="支付成功", apiv3_key="Z" * 32)
    assert "decrypt" in rejected(env, headers, body)


@pytest.mark.parametrize("skew", [dt.timedelta(minutes=5, seconds=1), -dt.timedelta(minutes=5, seconds=1), dt.timedelta(hours=1)])
def test_wechat_stale_or_future_timestamp_rejected(env, paid_order, skew):
    now = utcnow()
    headers, body = env.standins.wechatpay.callback_for(paid_order, timestamp=now - skew)
    assert "5-minute" in rejected(env, headers, body, now)


@pytest.mark.parametrize("timestamp", ["", "12a", "９９", "9" * 5000, "-1"])
def test_wechat_malformed_timestamp_rejected(env, paid_order, timestamp):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    rejected(env, {**headers, "Wechatpay-Timestamp": timestamp}, body)


def test_wechat_timestamp_inside_window_accepted(env, paid_order):
    now = utcnow()
    headers, body = env.standins.wechatpay.callback_for(paid_order, timestamp=now - dt.timedelta(minutes=4, seconds=50))
    assert env.wx.parse_notification(headers, body, now).state == TradeState.PAID


def test_wechat_missing_signature_type_header_rejected(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    del headers["Wechatpay-Signature-Type"]
    assert "Signature-Type" in rejected(env, headers, body)


@pytest.mark.parametrize("header", ["Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"])
def test_wechat_missing_signature_header_rejected(env, paid_order, header):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    del headers[header]
    rejected(env, headers, body)


def test_wechat_signature_probe_rejected(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    assert "probe" in rejected(env, {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + "A" * 340}, body)


def test_wechat_wrong_serial_rejected_without_fetching_certificates(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order)
    for serial in ("PUB_KEY_ID_0000000000000000000000000000", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "not-hex"):
        assert "serial" in rejected(env, {**headers, "Wechatpay-Serial": serial}, body).lower()


@pytest.mark.parametrize("body", [b"{not json", b'{"id":"x","event_type":"TRANSACTION.SUCCESS","resource":"oops"}', b"[]", b""])
def test_wechat_malformed_but_signed_body_rejected(env, body):
    rejected(env, env.standins.wechatpay.sign_headers(body), body)


def test_wechat_success_event_with_unpaid_state_rejected(env, paid_order):
    headers, body = env.standins.wechatpay.callback_for(paid_order, state="NOTPAY")
    assert "trade_state" in rejected(env, headers, body)


def test_wechat_refund_callbacks(env, paid_order):
    headers, body = env.standins.wechatpay.refund_callback_for(paid_order, refund_amount=800, out_refund_no="RF-1", event_id="EV-RF-1")
    n = env.wx.parse_notification(headers, body, utcnow())
    assert (n.kind, n.state, n.event_id, n.out_trade_no) == (EventKind.REFUND, TradeState.REFUNDED, "EV-RF-1", paid_order)
    assert (n.amount, n.refund_amount, n.out_refund_no, n.merchant_id) == (5800, 800, "RF-1", "1900000109")
    for status, state in (("ABNORMAL", TradeState.PENDING), ("CLOSED", TradeState.CLOSED)):
        headers, body = env.standins.wechatpay.refund_callback_for(paid_order, status=status)
        n = env.wx.parse_notification(headers, body, utcnow())
        assert (n.kind, n.state) == (EventKind.REFUND, state) and n.state != TradeState.PAID


async def test_wechat_demo_payment_posts_a_callback_that_verifies(env):
    await env.wx.create_trade(out_trade_no="WX-DEMO-1", description="demo", amount=1234, payer_id="o_demo", expires_at=expiry())
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{env.base}/_standins/wechatpay/demo/pay/WX-DEMO-1")
    assert answer.json() == {"notify_status": 204}
    assert [(n.out_trade_no, n.amount, n.state) for n in env.received if n.out_trade_no == "WX-DEMO-1"] == [("WX-DEMO-1", 1234, TradeState.PAID)]


# ---------------------------------------------------------------- Alipay: amounts


@pytest.mark.parametrize(("fen", "yuan"), [(1, "0.01"), (10, "0.10"), (100, "1.00"), (12345, "123.45"), (100000000, "1000000.00"), (10000000000, "100000000.00")])
def test_fen_yuan_conversion_is_exact_both_ways(fen, yuan):
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("bad", ["1", "1.5", "1.005", "-1.00", "+1.00", "1e2", " 1.00", "1.00 ", "01.00", "1,00", "１.００", "NaN", "", "0.1e1"])
def test_yuan_strings_that_are_not_two_decimal_amounts_are_refused(bad):
    with pytest.raises(ValueError):
        yuan_to_fen(bad)


@pytest.mark.parametrize("bad", [0, -1, 10000000001, 1.0, True, "100"])
def test_fen_out_of_range_refused(bad):
    with pytest.raises(ValueError):
        fen_to_yuan(bad)


# ---------------------------------------------------------------- Alipay: API round trip


@pytest.mark.parametrize(("fen", "yuan"), [(1, "0.01"), (12345, "123.45"), (100000000, "1000000.00")])
async def test_alipay_create_sends_exact_yuan_and_returns_trade_no(env, fen, yuan):
    no = f"ALI-CREATE-{fen}"
    trade_no = await env.ali.create_trade(out_trade_no=no, description="美发", amount=fen, payer_id="074aOpenIdOfBuyer", expires_at=expiry())
    trade = env.standins.alipay.trades[no]
    assert trade_no == trade["trade_no"]
    assert trade["biz"]["total_amount"] == yuan
    assert (trade["biz"]["product_code"], trade["biz"]["buyer_open_id"], trade["biz"]["subject"]) == ("JSAPI_PAY", "074aOpenIdOfBuyer", "美发")
    assert trade["notify_url"].endswith("/merchant/alipay-notify")


async def test_alipay_user_id_payer_goes_in_buyer_id(env):
    await env.ali.create_trade(out_trade_no="ALI-UID-1", description="x", amount=100, payer_id="2088000000000042", expires_at=expiry())
    biz = env.standins.alipay.trades["ALI-UID-1"]["biz"]
    assert biz["buyer_id"] == "2088000000000042" and "buyer_open_id" not in biz


async def test_alipay_query_and_close(env):
    await env.ali.create_trade(out_trade_no="ALI-Q-1", description="x", amount=5800, payer_id="open", expires_at=expiry())
    pending = await env.ali.query("ALI-Q-1")
    assert (pending.channel, pending.state, pending.amount) == (Channel.ALIPAY, TradeState.PENDING, 5800)
    env.standins.alipay.mark_paid("ALI-Q-1")
    paid = await env.ali.query("ALI-Q-1")
    assert (paid.state, paid.amount, paid.platform_trade_no) == (TradeState.PAID, 5800, env.standins.alipay.trades["ALI-Q-1"]["trade_no"])
    env.standins.alipay.mark_refunded("ALI-Q-1")
    assert (await env.ali.query("ALI-Q-1")).state == TradeState.REFUNDED
    assert await env.ali.query("ALI-NEVER") is None

    await env.ali.create_trade(out_trade_no="ALI-C-1", description="x", amount=100, payer_id="open", expires_at=expiry())
    await env.ali.close("ALI-C-1")
    assert (await env.ali.query("ALI-C-1")).state == TradeState.CLOSED
    await env.ali.close("ALI-NEVER")  # nothing at Alipay to close: not an error
    env.standins.alipay.trades["ALI-C-1"]["status"] = "TRADE_FINISHED"
    assert (await env.ali.query("ALI-C-1")).state == TradeState.PAID
    with pytest.raises(AlipayError) as e:
        await env.ali.close("ALI-C-1")
    assert e.value.code == "ACQ.TRADE_STATUS_ERROR"


async def test_alipay_request_signed_with_wrong_app_key_is_refused(env):
    wrong = AlipayGateway(dataclasses.replace(env.ali.config, app_private_key_pem=env.other.alipay_app_private_key_pem))
    with pytest.raises(AlipayError):
        await wrong.create_trade(out_trade_no="ALI-WRONG-KEY", description="x", amount=100, payer_id="open", expires_at=expiry())
    assert "ALI-WRONG-KEY" not in env.standins.alipay.trades


async def test_alipay_answer_signed_by_an_untrusted_key_is_refused(env):
    forged = AlipayGateway(dataclasses.replace(env.ali.config, gateway=f"{env.base}/forged/alipay/gateway.do"))
    with pytest.raises(AlipayError) as e:
        await forged.query("ALI-ANY")
    assert e.value.code == "SDK_ERROR"


def test_alipay_pkcs1_and_bare_base64_keys_accepted(env):
    from integrations.alipay import pkcs1_private_key
    pkcs1 = pkcs1_private_key(env.keys.alipay_app_private_key_pem)
    bare = "".join(line for line in env.keys.alipay_app_private_key_pem.splitlines() if not line.startswith("-----"))
    assert pkcs1.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert pkcs1_private_key(pkcs1) == pkcs1_private_key(bare) == pkcs1


# ---------------------------------------------------------------- Alipay: notifications


@pytest.fixture(scope="module")
async def ali_paid(env):
    await env.ali.create_trade(out_trade_no="ALI-N-1", description="洗剪吹", amount=8888, payer_id="open_n", expires_at=expiry())
    env.standins.alipay.mark_paid("ALI-N-1")
    return "ALI-N-1"


def ali_rejected(env, body: str | bytes) -> str:
    with pytest.raises(CallbackRejected) as e:
        env.ali.parse_notification({}, body.encode() if isinstance(body, str) else body, utcnow())
    return e.value.reason


def test_alipay_notify_verifies_and_parses(env, ali_paid):
    body = env.standins.alipay.notify_for(ali_paid, notify_id="N-1")
    n = env.ali.parse_notification({"content-type": "application/x-www-form-urlencoded"}, body.encode(), utcnow())
    trade = env.standins.alipay.trades[ali_paid]
    assert (n.channel, n.kind, n.state, n.event_id, n.out_trade_no) == (Channel.ALIPAY, EventKind.PAYMENT, TradeState.PAID, "N-1", ali_paid)
    assert (n.amount, n.app_id, n.merchant_id, n.platform_trade_no) == (8888, "2021000000000001", "2088000000000001", trade["trade_no"])
    assert n.paid_at is not None and n.refund_amount is None


@pytest.mark.parametrize(("status", "state"), [("TRADE_FINISHED", TradeState.PAID), ("WAIT_BUYER_PAY", TradeState.PENDING), ("TRADE_CLOSED", TradeState.CLOSED)])
def test_alipay_notify_states(env, ali_paid, status, state):
    n = env.ali.parse_notification({}, env.standins.alipay.notify_for(ali_paid, trade_status=status).encode(), utcnow())
    assert (n.kind, n.state) == (EventKind.PAYMENT, state)


def test_alipay_partial_and_full_refund_notifications(env, ali_paid):
    partial = env.standins.alipay.notify_for(ali_paid, trade_status="TRADE_SUCCESS", refund_fee="10.00", out_biz_no="RF-A1", notify_id="N-RF-1")
    n = env.ali.parse_notification({}, partial.encode(), utcnow())
    assert (n.kind, n.state, n.event_id, n.amount, n.refund_amount, n.out_refund_no) == (EventKind.REFUND, TradeState.REFUNDED, "N-RF-1", 8888, 1000, "RF-A1")
    full = env.standins.alipay.notify_for(ali_paid, trade_status="TRADE_CLOSED", refund_fee=8888, out_biz_no="RF-A2")
    n = env.ali.parse_notification({}, full.encode(), utcnow())
    assert (n.kind, n.state, n.refund_amount, n.out_refund_no) == (EventKind.REFUND, TradeState.REFUNDED, 8888, "RF-A2")


def test_alipay_notify_passes_foreign_app_and_seller_through_for_the_domain_to_flag(env, ali_paid):
    body = env.standins.alipay.notify_for(ali_paid, app_id="2021999999999999", seller_id="2088999999999999", total_amount=1)
    n = env.ali.parse_notification({}, body.encode(), utcnow())
    assert (n.app_id, n.merchant_id, n.amount) == ("2021999999999999", "2088999999999999", 1)


def test_alipay_tampered_notify_rejected(env, ali_paid):
    fields = dict(parse_qsl(env.standins.alipay.notify_for(ali_paid)))
    assert "signature" in ali_rejected(env, urlencode({**fields, "total_amount": "0.01"}))
    assert "signature" in ali_rejected(env, urlencode({**fields, "out_trade_no": "ALI-OTHER"}))


def test_alipay_forged_notify_rejected(env, ali_paid):
    forger = AlipayStandIn(dataclasses.replace(env.keys, alipay_private_key_pem=private_pem(new_rsa_key())))
    forger.trades = env.standins.alipay.trades
    assert "signature" in ali_rejected(env, forger.notify_for(ali_paid))


def test_alipay_sha1_signature_labelled_rsa2_rejected(env, ali_paid):
    fields = env.standins.alipay.notify_fields(ali_paid)
    assert "signature" in ali_rejected(env, env.standins.alipay.sign_form(fields, algorithm=hashes.SHA1()))


def test_alipay_notify_sign_type_and_missing_sign_rejected(env, ali_paid):
    fields = dict(parse_qsl(env.standins.alipay.notify_for(ali_paid)))
    assert "RSA2" in ali_rejected(env, urlencode({**fields, "sign_type": "RSA"}))
    assert "unsigned" in ali_rejected(env, urlencode({k: v for k, v in fields.items() if k != "sign"}))
    assert "repeated" in ali_rejected(env, urlencode(fields) + "&total_amount=0.01")
    ali_rejected(env, b"\xff\xfe=1")


@pytest.mark.parametrize("amount", ["88.8", "88.888", "-88.88", "8888", "88.88 ", "abc"])
def test_alipay_signed_notify_with_bad_amount_rejected(env, ali_paid, amount):
    assert "malformed" in ali_rejected(env, env.standins.alipay.notify_for(ali_paid, total_amount=amount))


def test_alipay_signed_notify_with_bad_refund_fee_rejected(env, ali_paid):
    assert "malformed" in ali_rejected(env, env.standins.alipay.notify_for(ali_paid, refund_fee="1.5", out_biz_no="RF-X"))


async def test_alipay_demo_payment_posts_a_notification_that_verifies(env):
    await env.ali.create_trade(out_trade_no="ALI-DEMO-1", description="demo", amount=4321, payer_id="open_demo", expires_at=expiry())
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{env.base}/_standins/alipay/demo/pay/ALI-DEMO-1")
    assert answer.json() == {"notify_status": 200, "notify_answer": "success"}
    assert [(n.amount, n.state) for n in env.received if n.out_trade_no == "ALI-DEMO-1"] == [(4321, TradeState.PAID)]


# ---------------------------------------------------------------- Alipay: login and phone


async def test_alipay_oauth_token(env):
    assert await env.ali.oauth_token("demo:074aOpenId") == "074aOpenId"
    assert await env.ali.oauth_token("demo-user:2088000000000007") == "2088000000000007"
    with pytest.raises(AlipayError) as e:
        await env.ali.oauth_token("expired-code")
    assert e.value.code == "isv.code-invalid"
    sent = env.standins.alipay.requests[-1]
    assert (sent["method"], sent["grant_type"], sent["code"]) == ("alipay.system.oauth.token", "authorization_code", "expired-code")


def test_alipay_phone_decryption(env):
    assert env.ali.decrypt_phone(env.standins.alipay.phone_response_for("13812345678")) == "13812345678"


def test_alipay_phone_response_tampered_or_wrong_key_refused(env):
    good = json.loads(env.standins.alipay.phone_response_for("13812345678"))
    other = json.loads(env.standins.alipay.phone_response_for("13900000000"))
    spliced = json.dumps({**good, "response": other["response"]})
    wrong_key = env.standins.alipay.phone_response_for("13812345678", aes_key=env.other.alipay_aes_key)
    for bad in (spliced, json.dumps({"response": good["response"]}), good["response"], "not json", json.dumps({**good, "sign_type": "RSA"})):
        with pytest.raises(AlipayError):
            env.ali.decrypt_phone(bad)
    with pytest.raises(AlipayError) as e:
        env.ali.decrypt_phone(wrong_key)
    assert e.value.code == "BAD_PHONE_RESPONSE"


def test_alipay_sdk_is_not_patched_at_import():
    code = ("import alipay.aop.api.util.WebUtils as W, integrations.alipay as A; "
            "assert W.get_http_connection is A._sdk_get_http_connection, 'patched at import'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- WeChat login


async def test_wechat_code_to_session(env):
    assert await env.login.code_to_session("demo:o_member_1") == "o_member_1"
    with pytest.raises(PlatformError) as e:
        await env.login.code_to_session("bad-code")
    assert e.value.code == 40029


async def test_wechat_phone_number_refetches_an_expired_token(env):
    assert await env.login.phone_number("demo-phone:13800000000") == "13800000000"
    fetches = env.standins.wechat.token_fetches
    env.standins.wechat.expire_tokens()
    assert await env.login.phone_number("demo-phone:13911112222") == "13911112222"
    assert env.standins.wechat.token_fetches == fetches + 1
    with pytest.raises(PlatformError) as e:
        await env.login.phone_number("bad-code")
    assert e.value.code == 40029


async def test_wechat_login_with_wrong_secret_fails(env):
    from integrations.wechat_login import WeChatMiniProgram
    login = WeChatMiniProgram(env.login.app_id, "wrong-secret", api_base=f"{env.base}/_standins/wechat")
    with pytest.raises(PlatformError) as e:
        await login.code_to_session("demo:o_x")
    assert e.value.code == 40125


async def test_wechat_login_unreachable_platform(env):
    from integrations.wechat_login import WeChatMiniProgram
    login = WeChatMiniProgram(env.login.app_id, env.keys.wechat_app_secret, api_base="http://127.0.0.1:9", timeout=2)
    with pytest.raises(PlatformError) as e:
        await login.code_to_session("demo:o_x")
    assert e.value.code is None


async def test_alipay_unreachable_gateway_is_a_network_error(env):
    from integrations.alipay import use_local_gateway
    use_local_gateway("127.0.0.1", 9)
    down = AlipayGateway(dataclasses.replace(env.ali.config, gateway="http://127.0.0.1:9/gateway.do"))
    with pytest.raises(AlipayError) as e:
        await down.query("ALI-ANY")
    assert e.value.code == "NETWORK"


async def test_wechat_pay_unreachable_is_a_network_error(env):
    down = WeChatPayGateway(dataclasses.replace(env.wx.config, api_base="http://127.0.0.1:9"))
    with pytest.raises(WeChatPayError) as e:
        await down.query("WX-ANY")
    assert e.value.code == "NETWORK"
