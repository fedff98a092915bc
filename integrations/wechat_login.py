"""WeChat mini-program login (jscode2session) and phone number (getuserphonenumber), on
wechatpy 1.8.18. wechatpy is blocking (requests), so every call runs in a worker thread.

wechatpy hard-codes api.weixin.qq.com in three places; all three are overridden per client so a
stand-in can answer: the client's API_BASE_URL, the token URL in fetch_access_token, and the
WeChatWxa helper's own API_BASE_URL.
"""

from __future__ import annotations

import asyncio
import time

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

HTTP_TIMEOUT = 10  # seconds; wechatpy's token fetch has none at all by default


class PlatformError(Exception):
    """WeChat answered with an errcode (e.g. 40029 invalid code), or could not be reached (code None)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _Client(WeChatClient):
    def __init__(self, app_id: str, secret: str, api_base: str, timeout: float) -> None:
        super().__init__(app_id, secret, timeout=timeout)
        self._api_base = api_base.rstrip("/")
        self.API_BASE_URL = self._api_base + "/cgi-bin/"
        # BaseWeChatClient.__new__ gives each client its own WeChatWxa, so this stays local to it.
        self.wxa.API_BASE_URL = self._api_base + "/"

    def fetch_access_token(self):
        res = self._http.get(
            f"{self._api_base}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        res.raise_for_status()
        result = res.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result


class WeChatMiniProgram:
    def __init__(self, app_id: str, secret: str, api_base: str = "https://api.weixin.qq.com", *, timeout: float = HTTP_TIMEOUT) -> None:
        self.app_id = app_id
        self._client = _Client(app_id, secret, api_base, timeout)

    async def _run(self, fn, *args, **kwargs) -> dict:
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except WeChatClientException as e:
            raise PlatformError(e.errcode, str(e.errmsg or "request failed")) from e
        except (requests.RequestException, ValueError) as e:
            raise PlatformError(None, f"{type(e).__name__}: {e}") from e
        if not isinstance(result, dict):
            raise PlatformError(None, "answer is not JSON")
        return result

    async def code_to_session(self, code: str) -> str:
        """wx.login's code → the user's openid in this mini-program. (wechatpy fetches an access
        token first although jscode2session does not need one; the token is cached.)"""
        result = await self._run(self._client.wxa.code_to_session, code)
        openid = result.get("openid")
        if not isinstance(openid, str) or not openid:
            raise PlatformError(None, "jscode2session answered without openid")
        return openid

    async def phone_number(self, code: str) -> str:
        """getPhoneNumber's code → the phone number without country code. wechatpy 1.8.18 has no
        wrapper; the endpoint lives under the wxa base URL, not /cgi-bin/."""
        result = await self._run(
            self._client.post, "wxa/business/getuserphonenumber", api_base_url=self._client.wxa.API_BASE_URL, data={"code": code}
        )
        phone = (result.get("phone_info") or {}).get("purePhoneNumber")
        if not isinstance(phone, str) or not phone:
            raise PlatformError(None, "getuserphonenumber answered without purePhoneNumber")
        return phone
