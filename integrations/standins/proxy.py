"""Forward a mount's requests, unchanged, to the same path on another server: how each worker of a
multi-worker demo keeps answering /_standins/… while the stand-ins themselves run once, elsewhere."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response

# Hop-by-hop, or recomputed for the body as re-sent.
_DROPPED = {"host", "connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


class Forward:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        # raw_path is the path as the client sent it, mount prefix included, which is also where
        # the stand-ins are mounted on their own server.
        path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        url = self.base_url + path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED]
        try:
            answer = await self._client.request(request.method, url, headers=headers, content=await request.body())
        except httpx.HTTPError as exc:
            response = Response(f"demo stand-ins unreachable: {exc.__class__.__name__}", status_code=502)
        else:
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED}
            response = Response(answer.content, status_code=answer.status_code, headers=kept)
        await response(scope, receive, send)
