"""The address a request came from, for login throttling."""

from __future__ import annotations


def client_address(request, trusted_proxies: tuple[str, ...] = ()) -> str:
    """The peer's address; behind a trusted proxy, the last X-Forwarded-For hop that is not one of
    our proxies (earlier hops are whatever the client wrote)."""
    peer = getattr(getattr(request, "client", None), "host", None) or "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in (request.headers.get("x-forwarded-for") or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return peer
