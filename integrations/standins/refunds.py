"""The refund APIs and refund notifications of the WeChat Pay and Alipay stand-ins, signed like the
platforms' (mixed into WeChatPayStandIn and AlipayStandIn).

WeChat Pay v3: `POST /v3/refund/domestic/refunds` (a repeated out_refund_no answers the refund it
already made), `GET /v3/refund/domestic/refunds/{out_refund_no}`, and REFUND.SUCCESS / ABNORMAL /
CLOSED callbacks to the refund's notify_url. Alipay: `alipay.trade.refund` (deduplicated on
out_trade_no + out_request_no; a repeat answers fund_change N), `alipay.trade.fastpay.refund.query`,
and trade_status_sync notifications carrying refund_fee (the trade's total so far) and out_biz_no.

Test controls: `refund_mode` (WeChat PROCESSING|SUCCESS, Alipay SYNC|PENDING) is what a new refund
is at once; `refund_refusal` makes the next requests answer an error; `settle_refund(…)` finishes a
refund and returns its signed callback; `deliver_refund(…)` also posts it. Demo mode: POST
/_standins/wechatpay/demo/refund/{out_refund_no} finishes a WeChat refund (Alipay's refund at once).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.standins.base import CHINA_TZ, post_notification
from integrations.standins.base import alipay_failure as _fail

_YUAN = re.compile(r"(0|[1-9][0-9]{0,9})\.[0-9]{2}")
_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")


def _iso_now() -> str:
    return dt.datetime.now(CHINA_TZ).isoformat(timespec="seconds")


class WeChatPayRefunds:
    """Needs the stand-in's orders, _lock, _authorized, _answer, _failure, encrypted_callback, mch_id."""

    def _init_refunds(self) -> None:
        self.refunds: dict[str, dict] = {}
        self.refund_requests: list[dict] = []  # every verified refund request body, for tests
        self.refund_mode = "PROCESSING"
        self.refund_refusal: tuple[int, str, str] | None = None  # (HTTP status, code, message)

    def refund_routes(self) -> list[Route]:
        return [Route("/v3/refund/domestic/refunds", self._refund, methods=["POST"]),
                Route("/v3/refund/domestic/refunds/{no}", self._query_refund, methods=["GET"]),
                Route("/demo/refund/{no}", self._demo_refund, methods=["POST"])]

    async def _demo_refund(self, request: Request) -> Response:
        """Demo only, not a WeChat endpoint: the refund ends (?status=SUCCESS|ABNORMAL|CLOSED) and
        its callback is posted, as WeChat does minutes after accepting a refund."""
        status = request.query_params.get("status", "SUCCESS")
        if request.path_params["no"] not in self.refunds or status not in ("SUCCESS", "ABNORMAL", "CLOSED"):
            return JSONResponse({"code": "RESOURCE_NOT_EXISTS", "message": "no such refund or status"}, status_code=404)
        notify_status, _ = await self.deliver_refund(request.path_params["no"], status)
        return JSONResponse({"notify_status": notify_status})

    async def _refund(self, request: Request) -> Response:
        body, failure = await self._authorized(request)
        if failure:
            return failure
        try:
            data = json.loads(body)
            no, trade, amount = data["out_refund_no"], data.get("out_trade_no"), data["amount"]
            refund, total = amount["refund"], amount["total"]
            ok = (isinstance(no, str) and _NO.fullmatch(no) and isinstance(trade, str) and all(isinstance(v, int) and not isinstance(v, bool) for v in (refund, total))
                  and refund > 0 and amount.get("currency", "CNY") == "CNY")
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return self._failure(400, "PARAM_ERROR", "bad refund request")
        with self._lock:
            self.refund_requests.append(data)
            if self.refund_refusal is not None:
                status, code, message = self.refund_refusal
                return self._failure(status, code, message)
            if no in self.refunds:
                return self._answer(200, self.refund_resource(no))
            order = self.orders.get(trade)
            if order is None:
                return self._failure(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            if order["state"] not in ("SUCCESS", "REFUND"):
                return self._failure(400, "INVALID_REQUEST", "订单状态不可退款")
            paid = order["request"]["amount"]["total"]
            done = sum(r["refund"] for r in self.refunds.values() if r["out_trade_no"] == trade and r["status"] != "CLOSED")
            if total != paid:
                return self._failure(400, "PARAM_ERROR", "订单金额不一致")
            if refund > paid - done:
                return self._failure(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            self.refunds[no] = {"out_trade_no": trade, "refund": refund, "total": total, "status": self.refund_mode,
                                "refund_id": "50" + secrets.token_hex(14), "notify_url": data.get("notify_url"),
                                "create_time": _iso_now(), "success_time": _iso_now() if self.refund_mode == "SUCCESS" else None}
            order["state"] = "REFUND"
        return self._answer(200, self.refund_resource(no))

    async def _query_refund(self, request: Request) -> Response:
        _, failure = await self._authorized(request)
        if failure:
            return failure
        if request.path_params["no"] not in self.refunds:
            return self._failure(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return self._answer(200, self.refund_resource(request.path_params["no"]))

    def refund_resource(self, out_refund_no: str) -> dict:
        """The refund as the API answers it and a refund callback's resource carries it."""
        r = self.refunds[out_refund_no]
        order = self.orders.get(r["out_trade_no"]) or {}
        data = {"mchid": self.mch_id, "refund_id": r["refund_id"], "out_refund_no": out_refund_no, "transaction_id": order.get("transaction_id") or "",
                "out_trade_no": r["out_trade_no"], "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": r["create_time"],
                "status": r["status"], "refund_status": r["status"], "funds_account": "AVAILABLE",
                "amount": {"total": r["total"], "refund": r["refund"], "payer_total": r["total"], "payer_refund": r["refund"],
                           "settlement_total": r["total"], "settlement_refund": r["refund"], "discount_refund": 0, "currency": "CNY"}}
        if r["success_time"]:
            data["success_time"] = r["success_time"]
        return data

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> tuple[dict[str, str], bytes]:
        """The refund ends SUCCESS, ABNORMAL or CLOSED; returns the signed callback WeChat sends."""
        with self._lock:
            r = self.refunds[out_refund_no]
            r["status"] = status
            r["success_time"] = _iso_now() if status == "SUCCESS" else None
        resource = {k: v for k, v in self.refund_resource(out_refund_no).items() if k != "status"}
        summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[status]
        return self.encrypted_callback(resource, event_type=f"REFUND.{status}", original_type="refund", summary=summary)

    async def deliver_refund(self, out_refund_no: str, status: str = "SUCCESS") -> tuple[int, str]:
        headers, body = self.settle_refund(out_refund_no, status)
        return await post_notification(self.refunds[out_refund_no]["notify_url"], headers, body)


def _fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    return int(whole) * 100 + int(cents)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


class AlipayRefunds:
    """Needs the stand-in's trades, _lock, notify_fields, sign_form."""

    def _init_refunds(self) -> None:
        self.refunds: dict[tuple[str, str], dict] = {}
        self.refund_requests: list[dict] = []
        self.refund_mode = "SYNC"
        self.refund_refusal: tuple[str, str] | None = None  # (sub_code, sub_msg)

    def refund_handlers(self) -> dict:
        return {"alipay.trade.refund": self._refund, "alipay.trade.fastpay.refund.query": self._refund_query}

    def _refunded(self, out_trade_no: str) -> int:
        return sum(r["amount"] for (no, _), r in self.refunds.items() if no == out_trade_no and r["status"] == "REFUND_SUCCESS")

    def _refund(self, params: dict, biz: dict) -> tuple[None, dict]:

        amount, no = biz.get("refund_amount"), biz.get("out_trade_no")
        request_no = biz.get("out_request_no") or no
        if not isinstance(amount, str) or not _YUAN.fullmatch(amount) or amount == "0.00" or not no:
            return None, _fail("40004", "ACQ.INVALID_PARAMETER", "参数无效")
        with self._lock:
            self.refund_requests.append(biz)
            if self.refund_refusal is not None:
                return None, _fail("40004", *self.refund_refusal)
            trade = self.trades.get(no)
            if trade is None:
                return None, _fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
            key = (no, request_no)
            if key not in self.refunds:
                if trade["status"] not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                    return None, _fail("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
                taken = sum(r["amount"] for (n, _), r in self.refunds.items() if n == no)
                if taken + _fen(amount) > _fen(trade["biz"]["total_amount"]):
                    return None, _fail("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
                self.refunds[key] = {"amount": _fen(amount), "status": "REFUND_SUCCESS" if self.refund_mode == "SYNC" else "PROCESSING",
                                     "gmt": dt.datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")}
                changed = self.refund_mode == "SYNC"
                self._close_if_refunded(no)
            else:
                changed = False  # the same request again: Alipay answers success, no fund change
        return None, {"code": "10000", "msg": "Success", "trade_no": trade["trade_no"], "out_trade_no": no, "buyer_logon_id": "159****5620",
                      "fund_change": "Y" if changed else "N", "refund_fee": _yuan(self._refunded(no)), "send_back_fee": _yuan(self._refunded(no))}

    def _close_if_refunded(self, out_trade_no: str) -> None:
        trade = self.trades[out_trade_no]
        trade["refund_fee"] = _yuan(self._refunded(out_trade_no))
        if self._refunded(out_trade_no) >= _fen(trade["biz"]["total_amount"]):
            trade["status"] = "TRADE_CLOSED"

    def _refund_query(self, params: dict, biz: dict) -> tuple[None, dict]:

        no = biz.get("out_trade_no")
        trade = self.trades.get(no)
        if trade is None:
            return None, _fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        request_no = biz.get("out_request_no") or no
        found = self.refunds.get((no, request_no))
        inner = {"code": "10000", "msg": "Success", "out_trade_no": no, "trade_no": trade["trade_no"], "out_request_no": request_no}
        if found is not None and found["status"] == "REFUND_SUCCESS":
            inner.update(total_amount=trade["biz"]["total_amount"], refund_amount=_yuan(found["amount"]), refund_status="REFUND_SUCCESS",
                         gmt_refund_pay=found["gmt"])
        return None, inner

    def settle_refund(self, out_trade_no: str, out_request_no: str) -> str:
        """A processing refund succeeds; returns the signed notification Alipay sends for it."""
        with self._lock:
            self.refunds[(out_trade_no, out_request_no)]["status"] = "REFUND_SUCCESS"
            self._close_if_refunded(out_trade_no)
        return self.refund_notify_for(out_trade_no, out_request_no)

    def refund_notify_for(self, out_trade_no: str, out_request_no: str, *, refund_fee: int | None = None) -> str:
        trade = self.trades[out_trade_no]
        total = refund_fee if refund_fee is not None else self._refunded(out_trade_no)
        status = "TRADE_CLOSED" if total >= _fen(trade["biz"]["total_amount"]) else "TRADE_SUCCESS"
        return self.sign_form(self.notify_fields(out_trade_no, trade_status=status, refund_fee=total, out_biz_no=out_request_no))

    async def deliver_refund(self, out_trade_no: str, out_request_no: str) -> tuple[int, str]:
        body = self.settle_refund(out_trade_no, out_request_no).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return await post_notification(self.trades[out_trade_no]["notify_url"], headers, body)
