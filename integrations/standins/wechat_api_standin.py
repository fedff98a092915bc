"""Stand-in for api.weixin.qq.com: access token (token and stable_token), jscode2session,
getuserphonenumber and subscribe messages (`message/subscribe/send`, recorded in `messages`; told to
answer an errcode with `answer_next`, or over HTTP at /demo/messages and /demo/answer).

Codes are readable so a demo can choose who logs in: `demo:<openid>` logs in as that openid,
`demo-phone:<phone>` yields that phone number; anything else is an invalid code (40029)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import secrets
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from integrations.standins.base import StandIn


class WeChatApiStandIn(StandIn):
    def __init__(self, app_id: str, secret: str) -> None:
        self.app_id = app_id
        self._secret = secret
        self._tokens: set[str] = set()
        self.token_fetches = 0
        self.messages: list[dict] = []
        self._answers: list[int] = []
        # Seconds to sit on a token fetch or a send before answering: a slow platform, for kill tests.
        self.token_delay = 0.0
        self.send_delay = 0.0
        self.app = Starlette(routes=[
            Route("/cgi-bin/token", self._token),
            Route("/cgi-bin/stable_token", self._stable_token, methods=["POST"]),
            Route("/cgi-bin/message/subscribe/send", self._subscribe_send, methods=["POST"]),
            Route("/demo/messages", self._demo_messages),
            Route("/demo/answer", self._demo_answer, methods=["POST"]),
            Route("/sns/jscode2session", self._jscode2session),
            Route("/wxa/business/getuserphonenumber", self._phone_number, methods=["POST"]),
        ])

    def answer_next(self, *errcodes: int) -> None:
        """The next subscribe sends answer these errcodes (0 is success), one each, in order."""
        self._answers.extend(errcodes)

    def expire_tokens(self) -> None:
        """Invalidate every access token handed out, as WeChat does when one is refreshed elsewhere."""
        self._tokens.clear()

    def _credentials_error(self, query) -> JSONResponse | None:
        if query.get("appid") != self.app_id:
            return _error(40013, "invalid appid")
        if not hmac.compare_digest(query.get("secret", "").encode(), self._secret.encode()):
            return _error(40125, "invalid appsecret")
        return None

    async def _token(self, request: Request) -> JSONResponse:
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if request.query_params.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if (failure := self._credentials_error(request.query_params)) is not None:
            return failure
        token = secrets.token_urlsafe(32)
        self._tokens.add(token)
        self.token_fetches += 1
        return JSONResponse({"access_token": token, "expires_in": 7200})

    async def _stable_token(self, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(47001, "data format error")
        if not isinstance(body, dict) or body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if (failure := self._credentials_error(body)) is not None:
            return failure
        token = secrets.token_urlsafe(32)
        self._tokens.add(token)
        self.token_fetches += 1
        return JSONResponse({"access_token": token, "expires_in": 7200})

    async def _subscribe_send(self, request: Request) -> JSONResponse:
        if request.query_params.get("access_token") not in self._tokens:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(47001, "data format error")
        if not isinstance(body, dict) or not body.get("touser") or not body.get("template_id") or not isinstance(body.get("data"), dict):
            return _error(47003, "argument invalid! data.* invalid")
        errcode = self._answers.pop(0) if self._answers else 0
        self.messages.append({**body, "errcode": errcode})
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        if errcode:
            return _error(errcode, {43101: "user refuse to accept the msg", 45009: "reach max api daily quota limit",
                                    47003: "argument invalid!", 41030: "invalid page", 40037: "invalid template_id"}.get(errcode, "error"))
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(self.messages)})

    async def _demo_messages(self, _request: Request) -> JSONResponse:
        return JSONResponse({"messages": self.messages})

    async def _demo_answer(self, request: Request) -> JSONResponse:
        try:
            codes = json.loads(await request.body()).get("errcodes", [])
            self.answer_next(*[int(c) for c in codes])
        except (ValueError, AttributeError, TypeError):
            return _error(47001, "data format error")
        return JSONResponse({"queued": len(self._answers)})

    async def _jscode2session(self, request: Request) -> JSONResponse:
        query = request.query_params
        if query.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        if (failure := self._credentials_error(query)) is not None:
            return failure
        code = query.get("js_code", "")
        if not code.startswith("demo:") or len(code) == len("demo:"):
            return _error(40029, "invalid code")
        return JSONResponse({"openid": code[len("demo:"):], "session_key": base64.b64encode(secrets.token_bytes(16)).decode()})

    async def _phone_number(self, request: Request) -> JSONResponse:
        if request.query_params.get("access_token") not in self._tokens:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        try:
            code = json.loads(await request.body()).get("code", "")
        except (ValueError, AttributeError):
            return _error(47001, "data format error")
        if not isinstance(code, str) or not code.startswith("demo-phone:") or len(code) == len("demo-phone:"):
            return _error(40029, "invalid code")
        phone = code[len("demo-phone:"):]
        return JSONResponse({"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": self.app_id},
        }})


def _error(errcode: int, errmsg: str) -> JSONResponse:
    # WeChat answers errors with HTTP 200 and an errcode.
    return JSONResponse({"errcode": errcode, "errmsg": errmsg})
