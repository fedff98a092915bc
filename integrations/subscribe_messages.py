"""Sending one subscribe message: WeChat's `message/subscribe/send` through wechatpy, Alipay's
`alipay.open.app.mini.templatemessage.send` through alipay-sdk-python, and the notification pass of
`meiye worker` around them (DESIGN.md §6). The database steps are domain.notifications.sending;
here is only the HTTP call, and the judgement of whether an error means "not delivered" (safe to
try again) or "nobody knows" (a send must not be repeated blindly)."""

from __future__ import annotations

import asyncio
import json
import logging

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from wechatpy.exceptions import WeChatClientException

from domain import outbox
from domain.db import utcnow, write_transaction
from domain.members.customers import Channel
from domain.notifications import reminders, sending
from domain.notifications.sending import Answer, Claimed

log = logging.getLogger("meiye.notifications")
CONSUME_BATCH = 100
# One pass takes at most this many batches of events, so a flood cannot keep a worker from sending.
MAX_CONSUME_ROUNDS = 50


def _never_left(error: BaseException) -> bool:
    """True when the request provably never reached the platform: the connection was refused or never made."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return False


def _wechat_token(client) -> Answer | None:
    try:
        client.access_token  # noqa: B018 - fetches and caches the token
    except (requests.RequestException, WeChatClientException, ValueError) as e:
        return Answer(False, None, f"access token: {type(e).__name__}: {e}"[:300])
    return None


def _wechat_send(client, claimed: Claimed) -> Answer:
    body = {"touser": claimed.open_id, "template_id": claimed.template_id, "data": claimed.data,
            "miniprogram_state": claimed.miniprogram_state, "lang": claimed.lang}
    if claimed.page:
        body["page"] = claimed.page
    try:
        result = client.post("message/subscribe/send", data=body)
    except WeChatClientException as e:
        if e.errcode is None:
            response = getattr(e, "response", None)
            status = getattr(response, "status_code", None)
            # An HTTP error page from WeChat's gateway: the message was not accepted.
            return Answer(False, None, f"HTTP {status}") if status and status >= 500 else Answer(None, None, f"HTTP {status}")
        return Answer(False, int(e.errcode), str(e.errmsg or ""), json.dumps({"errcode": e.errcode, "errmsg": e.errmsg}, ensure_ascii=False))
    except requests.RequestException as e:
        return Answer(False if _never_left(e) else None, None, f"{type(e).__name__}: {e}"[:300])
    raw = json.dumps(result, ensure_ascii=False) if isinstance(result, dict) else str(result)[:500]
    if isinstance(result, dict) and int(result.get("errcode") or 0) == 0:
        return Answer(True, 0, str(result.get("errmsg") or "ok"), raw)
    return Answer(None, None, "answer without errcode", raw)


async def _alipay_send(gateway, claimed: Claimed) -> Answer:
    from alipay.aop.api.domain.AlipayOpenAppMiniTemplatemessageSendModel import AlipayOpenAppMiniTemplatemessageSendModel
    from alipay.aop.api.request.AlipayOpenAppMiniTemplatemessageSendRequest import AlipayOpenAppMiniTemplatemessageSendRequest

    from integrations.alipay import AlipayError

    model = AlipayOpenAppMiniTemplatemessageSendModel()
    # A 2088… user id (the older identity) or an open id (the newer one): Alipay takes either, named.
    if claimed.open_id.startswith("2088") and claimed.open_id.isdigit():
        model.to_user_id = claimed.open_id
    else:
        model.to_open_id = claimed.open_id
    model.user_template_id = claimed.template_id
    model.page = claimed.page or ""
    model.data = json.dumps({k: {"value": v["value"]} for k, v in claimed.data.items()}, ensure_ascii=False)
    try:
        data = await gateway._execute(AlipayOpenAppMiniTemplatemessageSendRequest(biz_model=model))
    except AlipayError as e:
        refused = e.code == "NETWORK" and "refused" in e.message.lower()
        return Answer(False if refused else None, None, f"{e.code}: {e.message}"[:300])
    raw = json.dumps(data, ensure_ascii=False)
    if str(data.get("code")) == "10000":
        return Answer(True, 0, "ok", raw)
    return Answer(False, 47003 if str(data.get("code")) == "40004" else None, f"{data.get('sub_code')}: {data.get('sub_msg')}", raw)


def _app(platforms, claimed: Claimed):
    channel = Channel(claimed.platform)
    return platforms.app(channel, claimed.app_id, claimed.brand_id) if platforms is not None else None


async def prepare(platforms, claimed: Claimed) -> Answer | None:
    """What can fail before anything is sent (no account, no access token): None when ready, else
    the answer to record. It runs before the row is marked SENDING, so a worker that dies here
    leaves a CLAIMED row that is safely sent later."""
    app = _app(platforms, claimed)
    if app is None:
        return Answer(False, None, f"no {claimed.platform} account configured for app {claimed.app_id}")
    if app.channel == Channel.WECHAT:
        return await asyncio.to_thread(_wechat_token, app.login_client._client)
    return None


async def send_one(platforms, claimed: Claimed) -> Answer:
    app = _app(platforms, claimed)
    if app is None:
        return Answer(False, None, f"no {claimed.platform} account configured for app {claimed.app_id}")
    if app.channel == Channel.WECHAT:
        return await asyncio.to_thread(_wechat_send, app.login_client._client, claimed)
    return await _alipay_send(app.gateway, claimed)


class Interrupt(Exception):
    """Raised by a test's hook to stand for the worker dying at that point."""


async def run_once(services, *, now=None, hook=None, limit: int = 50) -> dict[str, int]:
    """One pass: reminders from the outbox into rows, rows a dead worker left, then every due row.
    `hook(step, claimed)` lets a test stop the pass between claim and send or between send and record."""
    now = now or utcnow()
    counts = {"queued": 0, "sent": 0, "skipped": 0, "postponed": 0, "failed": 0, "retry": 0, "unknown": 0, "requeued": 0}
    for _ in range(MAX_CONSUME_ROUNDS):
        taken = await outbox.consume(services.engine, reminders.consumer, now=now, limit=CONSUME_BATCH)
        counts["queued"] += taken
        if taken < CONSUME_BATCH:
            break
    async with write_transaction(services.engine) as db:
        recovered = await sending.recover(db, now=now)
    counts["requeued"], counts["unknown"] = recovered["requeued"], recovered["unknown"]
    while True:
        async with write_transaction(services.engine) as db:
            batch = await sending.claim(db, now=now, limit=limit, counts=counts)
        if not batch:
            break
        for claimed in batch:
            await _deliver(services, claimed, counts, now, hook)
        if len(batch) < limit:
            break
    return counts


async def _deliver(services, claimed: Claimed, counts: dict, now, hook) -> None:
    if hook:
        await hook("claimed", claimed)
    try:
        refused = await prepare(services.platforms, claimed)
    except Exception as e:  # noqa: BLE001 - nothing has been sent yet: it is tried again
        log.exception("preparing notification %s failed", claimed.id)
        refused = Answer(False, None, f"{type(e).__name__}")
    async with write_transaction(services.engine) as db:
        if not await sending.mark_sending(db, claimed):
            return
    try:
        answer = refused or await send_one(services.platforms, claimed)
    except Exception as e:  # noqa: BLE001 - a bug in a client must not decide that nothing was sent
        log.exception("sending notification %s failed", claimed.id)
        answer = Answer(None, None, f"{type(e).__name__}")
    if hook:
        await hook("sent", claimed)
    async with write_transaction(services.engine) as db:
        status = await sending.record(db, claimed, answer, now=now)
    key = {"SENT": "sent", "FAILED": "failed", "PENDING": "retry", "UNKNOWN": "unknown"}.get(status.value)
    if key:
        counts[key] += 1
