"""The routes WeChat Pay and Alipay call. Verify first; then record and apply in one transaction
(domain.payments.apply_notification, exactly once); then answer each platform as it expects:
WeChat Pay v3 wants HTTP 200/204 for success and 4xx/5xx for failure (a 200 with FAIL counts as
success!); Alipay wants the body `success` exactly."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from domain.db import utcnow, write_transaction
from domain.members.customers import Channel
from domain.payments import intents as payments
from domain.payments.types import CallbackRejected

log = logging.getLogger("meiye.callbacks")
MAX_CALLBACK_BYTES = 64 * 1024


def callback_routes(services_ref: dict, on_rejected=None) -> list[Route]:
    """`on_rejected(channel, reason)` counts refusals for /metrics; the reason is one of a few fixed
    words (the gateways' own reasons name app ids and exceptions, too many for a metric label)."""

    async def receive(request: Request, channel: Channel):
        services = services_ref["services"]
        app_id = request.path_params["app_id"]
        body = await request.body()
        app = services.platforms.by_app_id(channel, app_id) if services.platforms is not None else None
        kind = "verification"
        try:
            if app is None or app.gateway is None:
                kind = "unknown_account"
                raise CallbackRejected(f"no {channel} account {app_id}")
            if len(body) > MAX_CALLBACK_BYTES:
                kind = "too_large"
                raise CallbackRejected("body too large")
            headers = {k.lower(): v for k, v in request.headers.items()}
            note = app.gateway.parse_notification(headers, body, utcnow())
            if note.app_id != app_id:
                # Verified, but for another app than the URL names: a mismatch for finance, applied nowhere.
                log.warning("%s callback for app %s arrived at %s", channel, note.app_id, app_id)
        except CallbackRejected as rejected:
            log.warning("rejected %s callback for %s from %s: %s", channel, app_id, request.client.host if request.client else "?", rejected.reason)
            if on_rejected is not None:
                on_rejected(channel.value, kind)
            return _failure(channel, rejected.reason)
        async with write_transaction(services.engine) as db:
            outcome = await payments.apply_notification(db, note)
        if outcome == "MISMATCH":
            log.error("%s callback %s for %s does not match its intent; flagged for finance", channel, note.event_id, note.out_trade_no)
        else:
            log.info("%s callback %s for %s: %s", channel, note.event_id, note.out_trade_no, outcome)
        return _success(channel)

    async def wechat(request: Request) -> Response:
        return await receive(request, Channel.WECHAT)

    async def alipay(request: Request) -> Response:
        return await receive(request, Channel.ALIPAY)

    return [
        Route("/notify/wechatpay/{app_id}", wechat, methods=["POST"]),
        Route("/notify/alipay/{app_id}", alipay, methods=["POST"]),
    ]


def _success(channel: Channel) -> Response:
    if channel == Channel.WECHAT:
        return Response(status_code=204)
    return PlainTextResponse("success")


def _failure(channel: Channel, reason: str) -> Response:
    if channel == Channel.WECHAT:
        return JSONResponse({"code": "FAIL", "message": "验签失败"}, status_code=401)
    return PlainTextResponse("failure", status_code=400)
