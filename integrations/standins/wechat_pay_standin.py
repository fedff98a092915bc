"""Stand-in for WeChat Pay API v3 (api.mch.weixin.qq.com), public-key mode.

Like the platform it checks the merchant's Authorization header (WECHATPAY2-SHA256-RSA2048 over
`method\\npath?query\\ntimestamp\\nnonce\\nbody\\n`), signs every answer with the platform key
(`timestamp\\nnonce\\nbody\\n`, Wechatpay-Serial = the public key id), and builds callbacks whose
resource is AES-256-GCM-encrypted with the APIv3 key. Orders live in memory.

Demo only, not a WeChat endpoint: POST /demo/pay/{out_trade_no} marks the order paid and posts
the signed callback to the order's notify_url.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.standins.base import (
    CHINA_TZ,
    StandIn,
    post_notification,
    route_path,
    unix_time,
)
from integrations.standins.keys import (
    DEMO_WECHAT_APP_ID,
    DEMO_WECHAT_MCH_ID,
    DemoKeys,
    load_private,
    load_public,
    sign_b64,
    verify_b64,
)
from integrations.standins.refunds import WeChatPayRefunds

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
_AUTH_FIELDS = re.compile(r'(\w+)="([^"]*)"')
_STATE_DESC = {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭", "USERPAYING": "用户支付中",
               "REVOKED": "已撤销", "PAYERROR": "支付失败", "REFUND": "转入退款"}


class WeChatPayStandIn(StandIn, WeChatPayRefunds):
    def __init__(self, keys: DemoKeys, *, app_id: str = DEMO_WECHAT_APP_ID, mch_id: str = DEMO_WECHAT_MCH_ID) -> None:
        self.app_id, self.mch_id = app_id, mch_id
        self.keys = keys
        self._platform_key = load_private(keys.wechat_platform_private_key_pem)
        self._merchant_public = load_public(keys.wechat_merchant_public_key_pem)
        self.orders: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._init_refunds()
        self.app = Starlette(routes=[*self.refund_routes(),
            Route("/v3/pay/transactions/jsapi", self._jsapi, methods=["POST"]),
            Route("/v3/pay/transactions/out-trade-no/{no}", self._query, methods=["GET"]),
            Route("/v3/pay/transactions/out-trade-no/{no}/close", self._close, methods=["POST"]),
            Route("/demo/pay/{no}", self._demo_pay, methods=["POST"]),
        ])

    # ---------------------------------------------------------------- signing

    def sign_headers(self, body: bytes | str, *, timestamp: int | dt.datetime | None = None, nonce: str | None = None) -> dict[str, str]:
        """The Wechatpay-* headers the platform puts on an answer or a callback with this body."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        ts, nonce = str(unix_time(timestamp)), nonce or secrets.token_hex(16)
        return {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": self.keys.wechat_platform_public_key_id,
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
            "Wechatpay-Signature": sign_b64(self._platform_key, f"{ts}\n{nonce}\n{text}\n"),
        }

    def _answer(self, status: int, payload: dict | None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        return Response(body.encode("utf-8"), status_code=status, headers=self.sign_headers(body))

    def _failure(self, status: int, code: str, message: str) -> Response:
        return self._answer(status, {"code": code, "message": message})

    async def _authorized(self, request: Request) -> tuple[bytes, Response | None]:
        body = await request.body()
        scheme, _, rest = request.headers.get("authorization", "").partition(" ")
        fields = dict(_AUTH_FIELDS.findall(rest))
        target = route_path(request) + (f"?{request.url.query}" if request.url.query else "")
        message = f"{request.method}\n{target}\n{fields.get('timestamp', '')}\n{fields.get('nonce_str', '')}\n{body.decode('utf-8', 'replace')}\n"
        if scheme != SIGNATURE_TYPE or fields.get("mchid") != self.mch_id or fields.get("serial_no") != self.keys.wechat_merchant_cert_serial:
            return body, self._failure(401, "SIGN_ERROR", "bad Authorization scheme, mchid or serial_no")
        if not fields.get("timestamp", "").isdigit() or abs(unix_time(None) - int(fields["timestamp"])) > 300:
            return body, self._failure(401, "SIGN_ERROR", "Authorization timestamp outside 5 minutes")
        if not verify_b64(self._merchant_public, message, fields.get("signature", "")):
            return body, self._failure(401, "SIGN_ERROR", "signature does not verify")
        return body, None

    # ---------------------------------------------------------------- API

    async def _jsapi(self, request: Request) -> Response:
        body, failure = await self._authorized(request)
        if failure:
            return failure
        try:
            order = json.loads(body)
            total, openid = order["amount"]["total"], order["payer"]["openid"]
            ok = (order["appid"] == self.app_id and order["mchid"] == self.mch_id and isinstance(total, int) and not isinstance(total, bool)
                  and total > 0 and order["amount"].get("currency", "CNY") == "CNY" and openid and order["description"] and order["notify_url"])
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return self._failure(400, "PARAM_ERROR", "bad JSAPI order")
        with self._lock:
            existing = self.orders.get(order["out_trade_no"])
            if existing and existing["state"] == "SUCCESS":
                return self._failure(400, "ORDERPAID", "该订单已支付")
            if existing and existing["state"] != "NOTPAY":
                return self._failure(400, "ORDER_CLOSED", "订单已关闭")
            if existing and existing["request"]["amount"] != order["amount"]:
                return self._failure(400, "OUT_TRADE_NO_USED", "商户订单号重复")
            prepay_id = "wx" + dt.datetime.now(CHINA_TZ).strftime("%d%H%M%S") + secrets.token_hex(12)
            self.orders[order["out_trade_no"]] = {"request": order, "state": "NOTPAY", "prepay_id": prepay_id, "transaction_id": None, "success_time": None}
        return self._answer(200, {"prepay_id": prepay_id})

    async def _query(self, request: Request) -> Response:
        _, failure = await self._authorized(request)
        if failure:
            return failure
        if request.query_params.get("mchid") != self.mch_id:
            return self._failure(400, "PARAM_ERROR", "mchid mismatch")
        order = self.orders.get(request.path_params["no"])
        if order is None:
            return self._failure(404, "ORDER_NOT_EXIST", "订单不存在")
        return self._answer(200, self.transaction(request.path_params["no"]))

    async def _close(self, request: Request) -> Response:
        body, failure = await self._authorized(request)
        if failure:
            return failure
        with self._lock:
            order = self.orders.get(request.path_params["no"])
            if order is None:
                return self._failure(404, "ORDER_NOT_EXIST", "订单不存在")
            if order["state"] in ("SUCCESS", "REFUND"):
                return self._failure(400, "ORDERPAID", "订单已支付")
            order["state"] = "CLOSED"
        return self._answer(204, None)

    async def _demo_pay(self, request: Request) -> Response:
        if request.path_params["no"] not in self.orders:
            return self._failure(404, "ORDER_NOT_EXIST", "订单不存在")
        status, _ = await self.deliver_payment(request.path_params["no"])
        return JSONResponse({"notify_status": status})

    # ---------------------------------------------------------------- test and demo controls

    def set_state(self, out_trade_no: str, state: str) -> None:
        with self._lock:
            order = self.orders[out_trade_no]
            order["state"] = state
            if state in ("SUCCESS", "REFUND") and not order["transaction_id"]:
                order["transaction_id"] = "42000" + dt.datetime.now(CHINA_TZ).strftime("%Y%m%d") + secrets.token_hex(7)
                order["success_time"] = dt.datetime.now(CHINA_TZ).isoformat(timespec="seconds")

    def mark_paid(self, out_trade_no: str) -> None:
        self.set_state(out_trade_no, "SUCCESS")

    def transaction(self, out_trade_no: str, *, state: str | None = None, amount: int | None = None,
                    mchid: str | None = None, appid: str | None = None) -> dict:
        """The transaction as the query API and a payment callback describe it."""
        order = self.orders.get(out_trade_no)
        if order is None and amount is None:
            raise KeyError(f"unknown order {out_trade_no}; pass amount=")
        request = order["request"] if order else {"payer": {"openid": "o_demo_buyer"}, "amount": {"total": amount}}
        state = state or (order["state"] if order else "SUCCESS")
        total = amount if amount is not None else request["amount"]["total"]
        data = {"appid": appid or self.app_id, "mchid": mchid or self.mch_id, "out_trade_no": out_trade_no, "trade_type": "JSAPI",
                "trade_state": state, "trade_state_desc": _STATE_DESC.get(state, state), "attach": "",
                "payer": {"openid": request["payer"]["openid"]}, "amount": {"total": total, "currency": "CNY"}}
        if state in ("SUCCESS", "REFUND"):
            transaction_id = (order or {}).get("transaction_id") or "42000" + secrets.token_hex(10)
            success_time = (order or {}).get("success_time") or dt.datetime.now(CHINA_TZ).isoformat(timespec="seconds")
            data.update(transaction_id=transaction_id, bank_type="OTHERS", success_time=success_time)
            data["amount"].update(payer_total=total, payer_currency="CNY")
        return data

    def encrypted_callback(self, resource: dict, *, event_type: str, original_type: str, summary: str,
                           timestamp: int | dt.datetime | None = None, event_id: str | None = None,
                           apiv3_key: str | None = None) -> tuple[dict[str, str], bytes]:
        """A callback as WeChat sends it: resource AES-256-GCM-encrypted, the whole body signed."""
        nonce = secrets.token_hex(6)  # 12 ASCII characters = the 12-byte GCM nonce
        key = (apiv3_key or self.keys.wechat_apiv3_key).encode()
        ciphertext = AESGCM(key).encrypt(nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), original_type.encode())
        body = json.dumps({
            "id": event_id or str(uuid.uuid4()),
            "create_time": dt.datetime.now(CHINA_TZ).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": original_type, "nonce": nonce},
        }, ensure_ascii=False, separators=(",", ":"))
        return self.sign_headers(body, timestamp=timestamp), body.encode("utf-8")

    def callback_for(self, out_trade_no: str, *, state: str = "SUCCESS", amount: int | None = None, mchid: str | None = None,
                     appid: str | None = None, timestamp: int | dt.datetime | None = None,
                     event_id: str | None = None) -> tuple[dict[str, str], bytes]:
        """A real signed, encrypted TRANSACTION.SUCCESS callback for the order (overrides let a
        test describe a foreign merchant, a wrong amount or an old timestamp)."""
        resource = self.transaction(out_trade_no, state=state, amount=amount, mchid=mchid, appid=appid)
        return self.encrypted_callback(resource, event_type="TRANSACTION.SUCCESS", original_type="transaction", summary="支付成功",
                                       timestamp=timestamp, event_id=event_id)

    def refund_callback_for(self, out_trade_no: str, *, refund_amount: int | None = None, out_refund_no: str | None = None,
                            status: str = "SUCCESS", timestamp: int | dt.datetime | None = None,
                            event_id: str | None = None) -> tuple[dict[str, str], bytes]:
        """A REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED callback for a paid order."""
        paid = self.transaction(out_trade_no, state="SUCCESS")
        total = paid["amount"]["total"]
        refund = total if refund_amount is None else refund_amount
        resource = {"mchid": self.mch_id, "out_trade_no": out_trade_no, "transaction_id": paid["transaction_id"],
                    "out_refund_no": out_refund_no or "RF" + secrets.token_hex(8), "refund_id": "503" + secrets.token_hex(12),
                    "refund_status": status, "user_received_account": "支付用户零钱",
                    "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund}}
        if status == "SUCCESS":
            resource["success_time"] = dt.datetime.now(CHINA_TZ).isoformat(timespec="seconds")
        return self.encrypted_callback(resource, event_type=f"REFUND.{status}", original_type="refund", summary="退款成功",
                                       timestamp=timestamp, event_id=event_id)

    async def deliver_payment(self, out_trade_no: str) -> tuple[int, str]:
        """Demo: the buyer paid. Marks the order paid and posts the callback to its notify_url."""
        self.mark_paid(out_trade_no)
        headers, body = self.callback_for(out_trade_no)
        return await post_notification(self.orders[out_trade_no]["request"]["notify_url"], headers, body)
