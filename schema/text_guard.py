"""Text arguments carry no control characters, once for every field of both schemas.

PostgreSQL refuses NUL in `text` (CharacterNotInRepertoireError, an internal error) while SQLite
stores it; a lone surrogate cannot be encoded for either. Both are refused here before any resolver
runs, as `INVALID_TEXT`, the same on every database. Refused: the C0 controls except tab, line feed
and carriage return (notes and addresses are legitimately multi-line), DEL, the C1 controls, and
surrogates. A mutation whose payload has `errors` answers there, with the field's path inside its
input (`lines.0.note`); other fields answer a top-level error with extensions.code.

Surrogates mostly stop earlier: the HTTP guard's JSON parser refuses `"\\udfff"` in variables and
graphql-core's lexer refuses it in literals. The check here is what holds if either ever lets one by.
"""

from __future__ import annotations

import dataclasses
import re

from graphql import GraphQLNonNull, get_nullable_type
from strawberry.extensions import SchemaExtension

from domain.errors import DomainError
from resolvers.errors import QueryError

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def bad_text_path(arguments: dict) -> str | None:
    """The dotted path (GraphQL names) of the first string holding a forbidden character."""
    stack: list[tuple[object, tuple]] = [(arguments, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if FORBIDDEN.search(value):
                return ".".join(str(p) for p in path)
        elif isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return None


def _field_name(path: str) -> str:
    # Payload errors name the field inside the mutation's single `input`, as the domain's errors do.
    return path.removeprefix("input.") if path != "input" else path


class TextGuard(SchemaExtension):
    def _implements_resolve(self) -> bool:
        # Strawberry asks each request's extensions whether they hook every field's resolution,
        # which costs a call per field (a member with its cards and statement is ~120 fields). A
        # request whose text and variables hold no forbidden character, and no escape in a string
        # literal that could make one, cannot have such an argument: it runs without the hook. If
        # Strawberry stops asking, the hook is simply always on.
        context = getattr(self, "execution_context", None)
        if context is None:
            return True
        query = context.query or ""
        return "\\" in query or FORBIDDEN.search(query) is not None or bad_text_path(context.variables or {}) is not None

    def resolve(self, _next, root, info, *args, **kwargs):
        if kwargs:
            path = bad_text_path(kwargs)
            if path is not None:
                return _refuse(info, _field_name(path))
        return _next(root, info, *args, **kwargs)


def _refuse(info, field: str):
    lang = getattr(info.context, "lang", "zh")
    error = DomainError("INVALID_TEXT", field, what=field)
    payload = _payload_with_errors(info, error, lang)
    if payload is None:
        raise QueryError(error, lang)
    return payload


def _payload_with_errors(info, error: DomainError, lang: str):
    """The mutation's payload holding only the error, when its other fields may be null."""
    if info.operation.operation.value != "mutation" or info.parent_type is not info.schema.mutation_type:
        return None
    graphql_type = get_nullable_type(info.return_type)
    definition = getattr(graphql_type, "extensions", {}).get("strawberry-definition")
    fields = getattr(graphql_type, "fields", {})
    if definition is None or "errors" not in fields:
        return None
    if any(isinstance(f.type, GraphQLNonNull) for name, f in fields.items() if name != "errors"):
        return None
    from schema.errors import user_errors

    values = {f.name: None for f in dataclasses.fields(definition.origin) if f.init}
    values["errors"] = user_errors([error], lang)
    return definition.origin(**values)
