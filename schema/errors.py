"""`UserError`: the payload error every mutation returns (DESIGN.md §7)."""

from __future__ import annotations

import enum

import strawberry

from domain.errors import MESSAGES, DomainError
from schema.observability import note_error_codes

ErrorCode = strawberry.enum(
    enum.Enum("ErrorCode", {code: code for code in MESSAGES}),
    description="Stable codes that clients branch on; the message is for people.",
)


@strawberry.type
class UserError:
    code: ErrorCode
    field: str | None
    message: str


def user_errors(errors: list[DomainError], lang: str) -> list[UserError]:
    # Every payload's errors pass here: the one place to count them for /metrics and the access log.
    if errors:
        note_error_codes(e.code for e in errors)
    return [UserError(code=ErrorCode[e.code], field=e.field, message=e.message(lang)) for e in errors]
