"""Signed, short-lived bearer tokens (HS256 JWT) carrying who the caller is."""

from __future__ import annotations

import time

import jwt

from domain.actor import Actor, Role

STAFF_AUDIENCE = "meiye-staff"
CUSTOMER_AUDIENCE = "meiye-customer"


# Staff tokens already verified, with their expiry: a client sends the same token on every request,
# and checking its signature again cost more than the request's reads of its account. Only the
# signature check is skipped: expiry is checked on every use, and the account itself (active,
# token_version) is re-read from the database by every request (resolvers.context).
VERIFIED_CACHE_SIZE = 4096


class TokenSigner:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._verified: dict[str, tuple[tuple[Actor, int], int]] = {}

    def staff_token(self, actor: Actor, version: int = 0) -> str:
        now = int(time.time())
        claims = {
            "sub": str(actor.staff_id),
            # The account's token_version at issue: a later deactivation or password change bumps it.
            "ver": version,
            "aud": STAFF_AUDIENCE,
            "brand": actor.brand_id,
            "role": actor.role.value,
            "store": actor.store_id,
            "name": actor.name,
            "iat": now,
            "exp": now + self.ttl_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def staff_actor(self, token: str) -> Actor | None:
        """The actor a valid staff token names; None for anything forged, expired or of another audience."""
        claimed = self.staff_claims(token)
        return claimed[0] if claimed is not None else None

    def staff_claims(self, token: str) -> tuple[Actor, int] | None:
        """The actor a valid staff token names and the token_version it was issued at."""
        known = self._verified.get(token)
        if known is not None:
            if known[1] > time.time():
                return known[0]
            del self._verified[token]
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], audience=STAFF_AUDIENCE, options={"require": ["exp", "sub", "aud"]})
            version = claims.get("ver", 0)
            if isinstance(version, bool) or not isinstance(version, int):
                return None
            actor = Actor(
                staff_id=int(claims["sub"]),
                brand_id=int(claims["brand"]),
                role=Role(claims["role"]),
                store_id=claims.get("store"),
                name=claims.get("name", ""),
            )
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))  # the oldest
            self._verified[token] = ((actor, version), claims["exp"])
            return actor, version
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            return None

    def customer_token(self, identity_id: int, brand_id: int) -> str:
        now = int(time.time())
        claims = {"sub": str(identity_id), "aud": CUSTOMER_AUDIENCE, "brand": brand_id, "iat": now, "exp": now + self.ttl_seconds}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def customer_identity(self, token: str) -> int | None:
        """The identity id a valid customer token names; a staff token (other audience) gives None."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], audience=CUSTOMER_AUDIENCE, options={"require": ["exp", "sub", "aud"]})
            return int(claims["sub"])
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            return None
