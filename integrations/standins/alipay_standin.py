"""Stand-in for the Alipay open gateway (openapi.alipay.com/gateway.do).

Like Alipay it verifies the app's RSA2 request signature (all parameters but `sign`, sorted,
`k=v&…`) with the app public key, and answers `{"<method>_response": {…}, "sign": …}` signed
with the Alipay private key over the exact text of the inner object. Notifications are form
bodies signed over all fields but `sign`/`sign_type`. Trades live in memory.

Readable auth codes for demos: `demo:<open_id>` → that open_id; `demo-user:<2088…>` → only a
user_id (apps without open_id). Demo only, not an Alipay endpoint: POST /demo/pay/{out_trade_no}.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.standins.base import CHINA_TZ, StandIn, post_notification
from integrations.standins.base import alipay_failure as _fail
from integrations.standins.keys import (
    DEMO_ALIPAY_APP_ID,
    DEMO_ALIPAY_SELLER_ID,
    DemoKeys,
    load_private,
    load_public,
    sign_b64,
    verify_b64,
)
from integrations.standins.refunds import AlipayRefunds

_YUAN = re.compile(r"(0|[1-9][0-9]{0,9})\.[0-9]{2}")
_DEMO_OPEN_ID = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"


def sign_content(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()))


def _yuan(value: int | str) -> str:
    # Ints are fen; strings go out verbatim so a test can send a malformed amount.
    return f"{value // 100}.{value % 100:02d}" if isinstance(value, int) else value


def _now() -> str:
    return dt.datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


class AlipayStandIn(StandIn, AlipayRefunds):
    def __init__(self, keys: DemoKeys, *, app_id: str = DEMO_ALIPAY_APP_ID, seller_id: str = DEMO_ALIPAY_SELLER_ID) -> None:
        self.app_id, self.seller_id = app_id, seller_id
        self.keys = keys
        self._alipay_key = load_private(keys.alipay_private_key_pem)
        self._app_public = load_public(keys.alipay_app_public_key_pem)
        self.trades: dict[str, dict] = {}
        self.requests: list[dict[str, str]] = []  # every verified request's parameters, for tests
        self.template_messages: list[dict] = []  # alipay.open.app.mini.templatemessage.send, as received
        self._lock = threading.Lock()
        self._init_refunds()
        self.app = Starlette(routes=[
            Route("/gateway.do", self._gateway, methods=["POST"]),
            Route("/demo/template-messages", self._demo_template_messages),
            Route("/demo/pay/{no}", self._demo_pay, methods=["POST"]),
        ])

    # ---------------------------------------------------------------- gateway

    def _signed(self, response_key: str, inner: dict) -> Response:
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        body = '{"%s":%s,"sign":"%s"}' % (response_key, text, sign_b64(self._alipay_key, text))
        return Response(body.encode("utf-8"), media_type="application/json;charset=utf-8")

    async def _gateway(self, request: Request) -> Response:
        # Like the SDK sends it: common parameters (with sign) in the query, the rest as a form body.
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        params.update(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        method = params.get("method", "")
        response_key = method.replace(".", "_") + "_response"
        sign = params.pop("sign", "")
        if params.get("sign_type") != "RSA2" or not verify_b64(self._app_public, sign_content(params), sign):
            # Unsigned, as Alipay answers a request it cannot attribute.
            return JSONResponse({response_key: {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"}})
        if params.get("app_id") != self.app_id:
            return JSONResponse({response_key: {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id", "sub_msg": "无效的AppID参数"}})
        self.requests.append(params)
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        handler = {"alipay.trade.create": self._create, "alipay.trade.query": self._query,
                    "alipay.trade.close": self._close, "alipay.system.oauth.token": self._oauth,
                    "alipay.open.app.mini.templatemessage.send": self._template_message, **self.refund_handlers()}.get(method)
        if handler is None or not isinstance(biz, dict):
            return self._signed("error_response", _fail("40004", "isv.invalid-method", "不存在的方法名"))
        key, inner = handler(params, biz)
        return self._signed(key or response_key, inner)

    def _create(self, params: dict, biz: dict) -> tuple[None, dict]:
        amount, no = biz.get("total_amount"), biz.get("out_trade_no")
        if (not isinstance(amount, str) or not _YUAN.fullmatch(amount) or amount == "0.00" or not no or not biz.get("subject")
                or biz.get("product_code") != "JSAPI_PAY" or not (biz.get("buyer_open_id") or biz.get("buyer_id"))):
            return None, _fail("40004", "ACQ.INVALID_PARAMETER", "参数无效")
        with self._lock:
            trade = self.trades.get(no)
            if trade and trade["status"] in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return None, _fail("40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if trade and trade["status"] == "TRADE_CLOSED":
                return None, _fail("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if trade and trade["biz"]["total_amount"] != amount:
                return None, _fail("40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            if not trade:
                trade = self.trades[no] = {"biz": biz, "trade_no": dt.datetime.now(CHINA_TZ).strftime("%Y%m%d") + "22001" + secrets.token_hex(7),
                                           "status": "WAIT_BUYER_PAY", "notify_url": params.get("notify_url"), "send_pay_date": None, "refund_fee": None}
        return None, {"code": "10000", "msg": "Success", "out_trade_no": no, "trade_no": trade["trade_no"]}

    def _query(self, params: dict, biz: dict) -> tuple[None, dict]:
        trade = self.trades.get(biz.get("out_trade_no"))
        if trade is None:
            return None, _fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        inner = {"code": "10000", "msg": "Success", "out_trade_no": trade["biz"]["out_trade_no"], "trade_no": trade["trade_no"],
                 "trade_status": trade["status"], "total_amount": trade["biz"]["total_amount"], "buyer_open_id": trade["biz"].get("buyer_open_id")}
        if trade["send_pay_date"]:
            inner.update(send_pay_date=trade["send_pay_date"], receipt_amount=trade["biz"]["total_amount"], buyer_pay_amount=trade["biz"]["total_amount"])
        return None, {k: v for k, v in inner.items() if v is not None}

    def _close(self, params: dict, biz: dict) -> tuple[None, dict]:
        with self._lock:
            trade = self.trades.get(biz.get("out_trade_no"))
            if trade is None:
                return None, _fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
            if trade["status"] in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return None, _fail("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            trade["status"] = "TRADE_CLOSED"
        return None, {"code": "10000", "msg": "Success", "out_trade_no": trade["biz"]["out_trade_no"], "trade_no": trade["trade_no"]}

    def _template_message(self, params: dict, biz: dict) -> tuple[None, dict]:
        """The mini-program's subscribe message: recorded in `template_messages`."""
        if not biz.get("user_template_id") or not (biz.get("to_user_id") or biz.get("to_open_id")):
            return None, _fail("40004", "USER_TEMPLATE_ILLEGAL", "模板参数不合法")
        try:
            data = json.loads(biz.get("data") or "{}")
        except ValueError:
            return None, _fail("40004", "USER_TEMPLATE_ILLEGAL", "模板参数不合法")
        self.template_messages.append({**biz, "data": data})
        return None, {"code": "10000", "msg": "Success"}

    def _oauth(self, params: dict, biz: dict) -> tuple[str | None, dict]:
        code = params.get("code", "")
        if params.get("grant_type") != "authorization_code" or not code.startswith(("demo:", "demo-user:")) or code.endswith(":"):
            return "error_response", _fail("40002", "isv.code-invalid", "授权码code无效")
        who = {"user_id": code.split(":", 1)[1]} if code.startswith("demo-user:") else {"open_id": code.split(":", 1)[1]}
        return None, {"access_token": "authusrB" + secrets.token_hex(16), "expires_in": 1296000, "re_expires_in": 2592000,
                      "refresh_token": "authusrB" + secrets.token_hex(16), "auth_start": _now(), **who}

    async def _demo_template_messages(self, _request: Request) -> Response:
        return JSONResponse({"messages": self.template_messages})

    async def _demo_pay(self, request: Request) -> Response:
        if request.path_params["no"] not in self.trades:
            return JSONResponse({"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在"}, status_code=404)
        status, text = await self.deliver_payment(request.path_params["no"])
        return JSONResponse({"notify_status": status, "notify_answer": text})

    # ---------------------------------------------------------------- test and demo controls

    def mark_paid(self, out_trade_no: str) -> None:
        with self._lock:
            trade = self.trades[out_trade_no]
            trade["status"], trade["send_pay_date"] = "TRADE_SUCCESS", trade["send_pay_date"] or _now()

    def mark_refunded(self, out_trade_no: str) -> None:
        """A full refund: Alipay closes the paid trade."""
        with self._lock:
            trade = self.trades[out_trade_no]
            trade["status"], trade["refund_fee"] = "TRADE_CLOSED", trade["biz"]["total_amount"]

    def sign_form(self, params: dict[str, str], *, algorithm: hashes.HashAlgorithm | None = None) -> str:
        """Sign a notification's fields the way Alipay does and encode the POST body."""
        fields = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
        return urlencode({**fields, "sign": sign_b64(self._alipay_key, sign_content(fields), algorithm), "sign_type": "RSA2"})

    def notify_fields(self, out_trade_no: str, *, trade_status: str = "TRADE_SUCCESS", total_amount: int | str | None = None,
                      refund_fee: int | str | None = None, out_biz_no: str | None = None, app_id: str | None = None,
                      seller_id: str | None = None, notify_id: str | None = None) -> dict[str, str]:
        trade = self.trades.get(out_trade_no)
        if trade is None and total_amount is None:
            raise KeyError(f"unknown trade {out_trade_no}; pass total_amount=")
        amount = _yuan(total_amount) if total_amount is not None else trade["biz"]["total_amount"]
        fields = {
            "notify_time": _now(), "notify_type": "trade_status_sync", "notify_id": notify_id or "2026" + secrets.token_hex(14),
            "charset": "utf-8", "version": "1.0", "app_id": app_id or self.app_id, "auth_app_id": app_id or self.app_id,
            "trade_no": trade["trade_no"] if trade else "2026" + secrets.token_hex(12), "out_trade_no": out_trade_no,
            "buyer_open_id": (trade["biz"].get("buyer_open_id") if trade else None) or _DEMO_OPEN_ID,
            "seller_id": seller_id or self.seller_id, "trade_status": trade_status, "total_amount": amount,
            "receipt_amount": amount, "invoice_amount": amount, "buyer_pay_amount": amount, "point_amount": "0.00",
            "subject": trade["biz"]["subject"] if trade else "demo", "gmt_create": _now(), "gmt_payment": _now(),
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
        }
        if refund_fee is not None or out_biz_no is not None:
            fields.update(refund_fee=_yuan(refund_fee if refund_fee is not None else amount),
                          out_biz_no=out_biz_no or "RF" + secrets.token_hex(8), gmt_refund=_now() + ".000")
        return fields

    def notify_for(self, out_trade_no: str, **overrides) -> str:
        """A real RSA2-signed asynchronous notification (the form-encoded POST body)."""
        return self.sign_form(self.notify_fields(out_trade_no, **overrides))

    def phone_response_for(self, phone: str, *, aes_key: str | None = None) -> str:
        """What my.getPhoneNumber hands the mini-program: AES-CBC ciphertext (zero IV) of
        {"code","msg","mobile"}, signed as the JSON string literal it appears as."""
        plain = json.dumps({"code": "10000", "msg": "Success", "mobile": phone}).encode()
        padder = sym_padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES(base64.b64decode(aes_key or self.keys.alipay_aes_key)), modes.CBC(bytes(16))).encryptor()
        ciphertext = base64.b64encode(encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()).decode()
        return json.dumps({"response": ciphertext, "sign": sign_b64(self._alipay_key, f'"{ciphertext}"'),
                           "sign_type": "RSA2", "encrypt_type": "AES", "charset": "UTF-8"})

    async def deliver_payment(self, out_trade_no: str) -> tuple[int, str]:
        """Demo: the buyer paid. Marks the trade paid and posts the notification to its notify_url."""
        self.mark_paid(out_trade_no)
        body = self.notify_for(out_trade_no).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return await post_notification(self.trades[out_trade_no]["notify_url"], headers, body)


