"""Sending platform refunds: WeChat Pay v3 `POST /v3/refund/domestic/refunds` (wechatpayv3) and
`alipay.trade.refund` (alipay-sdk-python), confirmed by the refund callback or by a query
(`GET /v3/refund/domestic/refunds/{out_refund_no}`, `alipay.trade.fastpay.refund.query`).

Rows come from domain.payments.refunds, written PENDING in the desk's refund transaction. No HTTP
call happens inside a database transaction: a row is claimed, the platform is asked, and its
answer is applied in a new transaction. Every send repeats the row's own `out_refund_no`, which
both platforms deduplicate on, so a retry after a timeout, or two senders at once, refund once.
"""

from __future__ import annotations

import datetime as dt
import logging

from alipay.aop.api.domain.AlipayTradeFastpayRefundQueryModel import (
    AlipayTradeFastpayRefundQueryModel,
)
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.request.AlipayTradeFastpayRefundQueryRequest import (
    AlipayTradeFastpayRefundQueryRequest,
)
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest

from domain.db import read_transaction, utcnow, write_transaction
from domain.members.customers import Channel
from domain.payments import refunds as platform_refunds
from domain.payments.refunds import RefundAnswer, RefundState
from integrations.alipay import AlipayError, AlipayGateway, fen_to_yuan
from integrations.wechat_pay import WeChatPayError, WeChatPayGateway, _error

log = logging.getLogger("meiye.refunds")

WECHAT_STATES = {"SUCCESS": RefundState.SUCCEEDED, "PROCESSING": RefundState.PENDING, "CLOSED": RefundState.FAILED, "ABNORMAL": RefundState.FAILED}
# Worth retrying with the same out_refund_no; anything else is a refusal finance must see.
WECHAT_TRANSIENT = {"SYSTEM_ERROR", "FREQUENCY_LIMITED", "NETWORK", "SDK_ERROR", "BAD_RESPONSE"}
ALIPAY_TRANSIENT = {"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error", "NETWORK", "SDK_ERROR", "BAD_RESPONSE", "UNKNOWN"}


class Retry(Exception):
    """The platform could not answer now; the refund stays PENDING and is tried again."""


# ---------------------------------------------------------------- WeChat Pay v3


def _wechat_answer(data: dict, status: int) -> RefundAnswer:
    state = data.get("status")
    if state not in WECHAT_STATES:
        raise Retry(f"BAD_RESPONSE: refund status {state!r} (HTTP {status})")
    return RefundAnswer(WECHAT_STATES[state], state, str(data.get("refund_id") or "") or None, None if state in ("SUCCESS", "PROCESSING") else state)


def _wechat_refusal(status: int, data: dict) -> RefundAnswer:
    error = _error(status, data)
    if error.code in WECHAT_TRANSIENT or status >= 500:
        raise Retry(f"{error.code}: {error.message}")
    return RefundAnswer(RefundState.FAILED, error.code, None, f"{error.code}: {error.message}")


async def wechat_refund(gateway: WeChatPayGateway, row) -> RefundAnswer:
    try:
        status, data = await gateway._call(
            gateway._pay.refund, out_refund_no=row.out_refund_no, out_trade_no=row.out_trade_no,
            amount={"refund": row.amount, "total": row.trade_total, "currency": "CNY"},
        )
    except WeChatPayError as e:
        raise Retry(f"{e.code}: {e.message}") from e
    return _wechat_answer(data, status) if status == 200 else _wechat_refusal(status, data)


async def wechat_query(gateway: WeChatPayGateway, row) -> RefundAnswer | None:
    try:
        status, data = await gateway._call(gateway._pay.query_refund, out_refund_no=row.out_refund_no)
    except WeChatPayError as e:
        raise Retry(f"{e.code}: {e.message}") from e
    if status == 404 and data.get("code") == "RESOURCE_NOT_EXISTS":
        return None
    if status != 200:
        raise Retry(f"{data.get('code') or status}: {data.get('message') or ''}")
    return _wechat_answer(data, status)


# ---------------------------------------------------------------- Alipay


def _alipay_refusal(data: dict) -> RefundAnswer:
    error = AlipayGateway._failed(data)
    if error.code in ALIPAY_TRANSIENT or data.get("code") == "20000":
        raise Retry(f"{error.code}: {error.message}")
    return RefundAnswer(RefundState.FAILED, error.code[:40], None, f"{error.code}: {error.message}")


async def alipay_refund(gateway: AlipayGateway, row) -> RefundAnswer:
    model = AlipayTradeRefundModel()
    model.out_trade_no = row.out_trade_no
    model.out_request_no = row.out_refund_no
    model.refund_amount = fen_to_yuan(row.amount)
    try:
        data = await gateway._execute(AlipayTradeRefundRequest(biz_model=model))
    except AlipayError as e:
        raise Retry(f"{e.code}: {e.message}") from e
    if data.get("code") != "10000":
        return _alipay_refusal(data)
    # fund_change N is not a failure (a repeated request, or still processing): the query decides.
    if data.get("fund_change") == "Y":
        return RefundAnswer(RefundState.SUCCEEDED, "REFUND_SUCCESS", data.get("trade_no"))
    return RefundAnswer(RefundState.PENDING, "FUND_CHANGE_N", data.get("trade_no"))


async def alipay_query(gateway: AlipayGateway, row) -> RefundAnswer | None:
    model = AlipayTradeFastpayRefundQueryModel()
    model.out_trade_no = row.out_trade_no
    model.out_request_no = row.out_refund_no
    try:
        data = await gateway._execute(AlipayTradeFastpayRefundQueryRequest(biz_model=model))
    except AlipayError as e:
        raise Retry(f"{e.code}: {e.message}") from e
    if data.get("code") != "10000":
        raise Retry(f"{data.get('sub_code') or data.get('code')}: {data.get('sub_msg') or data.get('msg') or ''}")
    if data.get("refund_status") == "REFUND_SUCCESS":
        return RefundAnswer(RefundState.SUCCEEDED, "REFUND_SUCCESS", data.get("trade_no"))
    # Alipay answers an unknown or unfinished refund with success and no refund_status: ask again.
    return None


CALLS = {Channel.WECHAT: (wechat_refund, wechat_query), Channel.ALIPAY: (alipay_refund, alipay_query)}


# ---------------------------------------------------------------- the sender


async def _ask(app, row) -> RefundAnswer:
    send, query = CALLS[Channel(row.channel)]
    if row.sent:
        answer = await query(app.gateway, row)
        if answer is not None:
            return answer
    return await send(app.gateway, row)


async def process(services, row, now: dt.datetime) -> str:
    """One attempt at one claimed row: SUCCEEDED, FAILED, PENDING, RETRY or NO_ACCOUNT."""
    app = services.platforms.by_app_id(Channel(row.channel), row.app_id) if services.platforms else None
    if app is None or app.gateway is None:
        async with write_transaction(services.engine) as db:
            await platform_refunds.note_error(db, row.id, f"NO_ACCOUNT: no {row.channel} account {row.app_id} configured")
        return "NO_ACCOUNT"
    try:
        answer = await _ask(app, row)
    except Retry as retry:
        log.warning("%s refund %s not answered, retried later: %s", row.channel, row.out_refund_no, retry)
        async with write_transaction(services.engine) as db:
            await platform_refunds.note_error(db, row.id, str(retry))
        return "RETRY"
    async with write_transaction(services.engine) as db:
        outcome = await platform_refunds.settle(db, row.id, answer, now)
    if outcome == "FAILED":
        log.error("%s refused refund %s of %s fen: %s", row.channel, row.out_refund_no, row.amount, answer.detail)
    return outcome


async def send_due(services, now: dt.datetime | None = None, *, refund_id: int | None = None) -> dict[str, int]:
    """Send (or query) every owed refund that is due, or, right after a desk refund commits, that
    refund's own rows. Each row is claimed first, so concurrent senders never double up."""
    now = now or utcnow()
    counts = {"refunds_sent": 0, "refunds_succeeded": 0, "refunds_failed": 0}
    async with read_transaction(services.engine) as db:
        rows = await platform_refunds.due(db, now, refund_id=refund_id)
    for row in rows:
        async with write_transaction(services.engine) as db:
            if not await platform_refunds.claim(db, row, now):
                continue
        try:
            outcome = await process(services, row, now)
        except Exception:  # noqa: BLE001 - one bad row must not stop the others; it stays PENDING and is retried
            log.exception("refund %s %s failed", row.channel, row.out_refund_no)
            continue
        counts["refunds_sent"] += 1
        counts["refunds_succeeded"] += outcome == "SUCCEEDED"
        counts["refunds_failed"] += outcome == "FAILED"
    return counts


async def send_after_commit(services, refund_id: int) -> None:
    """The desk's refund asks the platforms at once; anything that goes wrong is the worker's."""
    try:
        await send_due(services, refund_id=refund_id)
    except Exception:  # noqa: BLE001 - the refund is committed and PENDING; the worker retries it
        log.exception("sending the platform refunds of refund %s failed; the worker retries", refund_id)
