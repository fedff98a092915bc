"""What the three stand-ins share: being an ASGI app, and delivering a notification."""

from __future__ import annotations

import datetime as dt

import httpx
from starlette.applications import Starlette
from starlette.requests import Request

CHINA_TZ = dt.timezone(dt.timedelta(hours=8))


class StandIn:
    """A local imitation of one platform; itself an ASGI app, so it can be mounted or served."""

    app: Starlette

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


def route_path(request: Request) -> str:
    """The path below the mount point (e.g. /v3/pay/… under /_standins/wechatpay): what the
    merchant signed, since its base URL includes the mount prefix."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def unix_time(value: int | dt.datetime | None) -> int:
    if value is None:
        return int(dt.datetime.now(dt.timezone.utc).timestamp())
    return int(value.timestamp()) if isinstance(value, dt.datetime) else int(value)


async def post_notification(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """POST a callback to the merchant like the platform does (demo mode's "the buyer paid")."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, headers=headers, content=body)
    return response.status_code, response.text


def alipay_failure(code: str, sub_code: str, sub_msg: str) -> dict:
    """An Alipay gateway answer of a refused request, as the platform words it."""
    return {"code": code, "msg": "Business Failed" if code == "40004" else "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}
