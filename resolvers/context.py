"""The request context: who is asking, in which language, and how to reach the database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property
from typing import Awaitable, Callable, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.actor import Actor
from domain.brands.staff import load_actor
from domain.db import write_transaction
from domain.errors import DomainError
from domain.members.pii import PiiCipher
from resolvers.errors import Outcome, QueryError, forbidden, unauthenticated
from resolvers.loaders import Loaders
from resolvers.permissions import PUBLIC, allowed, field_allowed
from resolvers.request_db import RequestConnection
from resolvers.settings import Settings
from resolvers.tokens import TokenSigner

T = TypeVar("T")


def out_of_range() -> DomainError:
    """A date or number the client sent that no calendar or column can hold (year 1 moved across time
    zones, an integer past 2^63): bad input, refused like any other."""
    return DomainError("INVALID_VALUE", None, what="数值或日期（超出范围）")


@dataclass
class Services:
    """What every request shares, made once by the app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    cipher: PiiCipher
    signer: TokenSigner
    # The payment and login platforms per brand (integrations.runtime.PlatformRegistry), or None.
    platforms: object = None
    # (channel, bytes) -> bill rows: the platforms' bill formats (integrations.bills).
    parse_bill: object = None


def parse_language(header: str | None) -> str:
    """'en' when the caller's first preference is English, else Chinese."""
    first = (header or "").split(",")[0].split(";")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Context:
    def __init__(self, services: Services, *, authorization: str | None, accept_language: str | None, request=None, response=None) -> None:
        self.services = services
        self.engine = services.engine
        self.cipher = services.cipher
        self.request = request
        self.response = response
        self.lang = parse_language(accept_language)
        self._token = bearer_token(authorization)
        self._actor: Actor | None = None
        self._lookup: asyncio.Future | None = None
        # Every read of this request, the actor's included (resolvers.request_db); the endpoint
        # closes it when the request ends.
        self.reads = RequestConnection(services.engine)

    async def close(self) -> None:
        await self.reads.close()

    @property
    def actor(self) -> Actor | None:
        """The caller as of this request (set by `authorize`)."""
        return self._actor

    async def _current_actor(self, db: AsyncConnection | None = None) -> Actor | None:
        """The token's staff account re-read from the database, so that a deactivated account, or
        one whose role or store changed, stops acting at once rather than when its token expires.
        Root fields resolve concurrently: they all await the one lookup. A mutation passes its
        write transaction, so that the check costs no connection or transaction of its own."""
        lookup = self._lookup
        if lookup is not None:
            # Shielded: a waiter cancelled (its field given up) must not cancel the others' answer.
            self._actor = await asyncio.shield(lookup)
            return self._actor
        # The first caller reads the row itself (a task of its own cost more than the read's
        # Python); the root fields resolving alongside wait on the future it answers.
        lookup = self._lookup = asyncio.get_running_loop().create_future()
        try:
            actor = await self._load_actor(db)
        except BaseException as error:
            self._lookup = None  # a later caller reads again
            if not lookup.done():
                if isinstance(error, asyncio.CancelledError):
                    lookup.cancel()
                else:
                    lookup.set_exception(error)
                    lookup.exception()  # raised here; not also logged as never retrieved when no one waits
            raise
        if not lookup.done():
            lookup.set_result(actor)
        self._actor = actor
        return actor

    async def _load_actor(self, db: AsyncConnection | None) -> Actor | None:
        found = self.services.signer.staff_claims(self._token) if self._token else None
        if found is None:
            return None
        claimed, version = found
        if db is not None:
            current = await load_actor(db, claimed.staff_id, version)
        else:
            # Not cached beyond this request: the next request re-reads it (the deactivation rule).
            current = await load_actor(self.reads.db, claimed.staff_id, version)
        return current if current is not None and current.brand_id == claimed.brand_id else None

    def sees_full_pii(self) -> bool:
        return self.actor is not None and self.actor.sees_full_pii

    async def signed_in(self) -> bool:
        """Whether the token names an active staff account (for introspection in production)."""
        return await self._current_actor() is not None

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.reads.db)

    async def authorize(self, operation: str, db: AsyncConnection | None = None) -> Actor | None:
        """The actor, if its role may call `operation`; else a top-level auth error."""
        actor = await self._current_actor(db) if operation not in PUBLIC else None
        if allowed(actor, operation):
            return actor
        raise unauthenticated(self.lang) if actor is None else forbidden(self.lang)

    def authorize_field(self, field: str) -> None:
        """A FORBIDDEN error on this field's path unless the caller's role may read it
        (FIELD_ROLES); the object around it still answers. The root field authorized the caller."""
        if not field_allowed(self.actor, field):
            raise forbidden(self.lang)

    async def mutate(self, operation: str, work: Callable[[AsyncConnection, Actor], Awaitable[T]]) -> Outcome[T]:
        """One mutation field: authorize, then one write transaction around one domain call.
        A domain error rolls everything back and becomes the payload's errors. The caller's
        staff row is read in that transaction: one connection and one transaction a mutation."""
        # A caller without a valid token (or a public operation) is answered before any transaction:
        # a forged token must not take SQLite's write lock even briefly.
        in_transaction = operation not in PUBLIC and self._lookup is None and self._token is not None \
            and self.services.signer.staff_claims(self._token) is not None
        if not in_transaction:
            actor = await self.authorize(operation)
        await self.reads.put_back()  # never hold a read connection while waiting for the write one
        try:
            async with write_transaction(self.engine) as db:
                if in_transaction:
                    actor = await self.authorize(operation, db)
                return Outcome(value=await work(db, actor))
        except DomainError as error:
            return Outcome(errors=[error])
        except OverflowError:
            # A date or number the client sent that no calendar or column can hold: bad input.
            return Outcome(errors=[out_of_range()])

    async def query(self, operation: str, work: Callable[[AsyncConnection, Actor], Awaitable[T]]) -> T:
        """A query field: a bad argument (a malformed cursor, an oversized search) is a top-level
        error with the domain's code, since queries have no payload to carry it."""
        actor = await self.authorize(operation)
        try:
            return await work(self.reads.db, actor)
        except DomainError as error:
            raise QueryError(error, self.lang) from None
        except OverflowError:
            raise QueryError(out_of_range(), self.lang) from None
