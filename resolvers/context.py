"""The request context: who is asking, in which language, and how to reach the database."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Awaitable, Callable, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.db import read_transaction, write_transaction
from domain.errors import DomainError
from domain.pii import PiiCipher
from domain.tenancy import Actor
from resolvers.errors import Outcome, QueryError, forbidden, unauthenticated
from resolvers.loaders import Loaders
from resolvers.permissions import allowed
from resolvers.settings import Settings
from resolvers.tokens import TokenSigner

T = TypeVar("T")


@dataclass
class Services:
    """What every request shares, made once by the app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    cipher: PiiCipher
    signer: TokenSigner


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

    @cached_property
    def actor(self) -> Actor | None:
        return self.services.signer.staff_actor(self._token) if self._token else None

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.engine)

    def authorize(self, operation: str) -> Actor | None:
        """The actor, if its role may call `operation`; else a top-level auth error."""
        if allowed(self.actor, operation):
            return self.actor
        raise unauthenticated(self.lang) if self.actor is None else forbidden(self.lang)

    async def mutate(self, operation: str, work: Callable[[AsyncConnection, Actor], Awaitable[T]]) -> Outcome[T]:
        """One mutation field: authorize, then one write transaction around one domain call.
        A domain error rolls everything back and becomes the payload's errors."""
        actor = self.authorize(operation)
        try:
            async with write_transaction(self.engine) as db:
                return Outcome(value=await work(db, actor))
        except DomainError as error:
            return Outcome(errors=[error])

    async def query(self, operation: str, work: Callable[[AsyncConnection, Actor], Awaitable[T]]) -> T:
        """A query field: a bad argument (a malformed cursor, an oversized search) is a top-level
        error with the domain's code, since queries have no payload to carry it."""
        actor = self.authorize(operation)
        try:
            async with read_transaction(self.engine) as db:
                return await work(db, actor)
        except DomainError as error:
            raise QueryError(error, self.lang) from None
