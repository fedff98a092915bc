"""How failures leave the resolver layer.

Expected failures are `DomainError`s and become payload errors. Authentication and permission
failures are top-level GraphQL errors carrying `extensions.code`; graphql-core copies the
`extensions` of the original exception onto the error it reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from domain.errors import DomainError

T = TypeVar("T")


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.extensions = {"code": code}


def unauthenticated(lang: str) -> AuthError:
    return AuthError("UNAUTHENTICATED", "Sign in first" if lang == "en" else "请先登录")


def forbidden(lang: str) -> AuthError:
    return AuthError("FORBIDDEN", "Your role may not do this" if lang == "en" else "当前角色无权进行此操作")


@dataclass
class Outcome(Generic[T]):
    """A resolver's result: the value on success, or the domain errors that stopped it."""

    value: T | None = None
    errors: list[DomainError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class QueryError(Exception):
    def __init__(self, error: DomainError, lang: str) -> None:
        super().__init__(error.message(lang))
        self.extensions = {"code": error.code, "field": error.field}
