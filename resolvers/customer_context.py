"""The mini-program's request context: a customer identity instead of a staff actor."""

from __future__ import annotations

from functools import cached_property

from domain.members import customers
from domain.members.customers import Customer
from resolvers.context import Services, bearer_token, parse_language
from resolvers.errors import AuthError
from resolvers.loaders import Loaders
from resolvers.request_db import RequestConnection


class CustomerContext:
    def __init__(self, services: Services, *, authorization: str | None, accept_language: str | None, app_id: str | None, request=None, response=None) -> None:
        self.services = services
        self.engine = services.engine
        self.cipher = services.cipher
        self.platforms = services.platforms
        self.lang = parse_language(accept_language)
        self.app_id = (app_id or "").strip() or None
        self.request = request
        self.response = response
        self._token = bearer_token(authorization)
        self._customer: Customer | None = None
        self.reads = RequestConnection(services.engine)  # every read of this request (resolvers.request_db)

    async def close(self) -> None:
        await self.reads.close()

    def sees_full_pii(self) -> bool:
        # Only ever the customer's own data, so their own phone in full.
        return True

    @property
    def actor(self):
        return None

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.reads.db)

    async def customer(self) -> Customer:
        """The signed-in customer, re-read so a fresh phone binding counts at once."""
        if self._customer is None:
            identity_id = self.services.signer.customer_identity(self._token) if self._token else None
            if identity_id is not None:
                self._customer = await customers.load(self.reads.db, identity_id)
            if self._customer is None:
                raise AuthError("UNAUTHENTICATED", "Sign in first" if self.lang == "en" else "请先登录")
        return self._customer
