"""Leaf fields read straight from their object (issue 12).

A member read completes about 200 fields, most of them a plain attribute of a Strawberry object
(`amount`, `kind`, `createdAt` of each statement line). For each one graphql-core builds a
resolve-info object, calls Strawberry's default resolver, checks twice whether the result is
awaitable and walks the type's wrappers before it serialises the value: about 4 µs a field, the
largest part of a read's CPU after the SQL. A basic field (Strawberry's own term: no resolver, no
permission class, no field extension) whose type is a scalar or an enum is answered here with the
same attribute read and the same serialisation, and nothing else.

Anything else takes graphql-core's path unchanged: a field with a resolver or arguments, an object
or list type, an operation with resolve middleware (a schema extension's `resolve` hook, e.g. the
text guard's), and any value the shortcut cannot serialise as it is (None, an exception, a value
the scalar refuses), so errors, their paths and null handling stay graphql-core's own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import GraphQLField, GraphQLNonNull, GraphQLSchema, is_leaf_type
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter

# Set on each GraphQLField of a schema once: (resolver, python name, output coercion, nullable), or None.
_PLAIN = "meiye_plain_leaf"


def _basic_leaf(field: GraphQLField):
    strawberry_field = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    # Strawberry hands a basic field a resolver of that name, and only when no exception handler
    # applies to it either; any other resolver is left to graphql-core.
    if strawberry_field is None or field.args or getattr(field.resolve, "__name__", "") != "_get_basic_result":
        return None
    if not getattr(strawberry_field, "is_basic_field", False):
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    leaf = field.type if nullable else field.type.of_type
    if not is_leaf_type(leaf):
        return None
    return strawberry_field.default_resolver, strawberry_field.python_name, leaf.coerce_output_value, nullable


def index_plain_fields(schema: GraphQLSchema) -> None:
    if getattr(schema, _PLAIN, False):
        return
    for named in schema.type_map.values():
        for field in (getattr(named, "fields", None) or {}).values():
            if isinstance(field, GraphQLField):
                setattr(field, _PLAIN, _basic_leaf(field))
    setattr(schema, _PLAIN, True)


class PlainLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        index_plain_fields(self.schema)
        # Strawberry passes a manager on every request, empty unless an extension hooks `resolve`.
        self._shortcut = not (self.middleware_manager and self.middleware_manager.middlewares)
        # Per selection set of this request (kept alive here, so its id is not reused): the plain
        # fields that make up all of it, or None when one of them is not plain.
        self._plans: dict[int, tuple] = {}

    def execute_fields(self, parent_type, source_value, path, grouped_field_set, position_context):
        # An object whose selected fields are all plain leaves (a statement line's node, a card) is
        # answered in one loop: no path, call or awaitable check a field.
        if self._shortcut:
            answered = self._all_plain(parent_type, source_value, grouped_field_set)
            if answered is not None:
                return answered
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

    def _plan(self, parent_type, grouped_field_set):
        key = id(grouped_field_set)
        kept = self._plans.get(key)
        if kept is None or kept[0] is not grouped_field_set or kept[1] is not parent_type:
            plan = []
            for response_name, field_details_list in grouped_field_set.items():
                field = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
                plain = getattr(field, _PLAIN, None)
                if plain is None:
                    plan = None
                    break
                plan.append((response_name, plain))
            kept = self._plans[key] = (grouped_field_set, parent_type, plan)
        return kept[2]

    def _all_plain(self, parent_type, source, grouped_field_set) -> dict | None:
        plan = self._plan(parent_type, grouped_field_set)
        if not plan:
            return None
        answered = {}
        for response_name, plain in plan:
            value = _answer(plain, source)
            if value is _UNANSWERED:
                return None
            answered[response_name] = value
        return answered

    def execute_field(self, parent_type, source, field_details_list, path, position_context):
        if self._shortcut:
            field = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            plain = getattr(field, _PLAIN, None)
            if plain is not None and (value := _answer(plain, source)) is not _UNANSWERED:
                return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)


_UNANSWERED = object()


def _answer(plain, source):
    """A plain leaf's value as graphql-core would complete it, or _UNANSWERED when graphql-core's
    own path must answer: None on a non-null field, an exception, a value the scalar refuses
    (that path reports the error, with its path and null propagation)."""
    resolve, name, coerce, nullable = plain
    value = resolve(source, name)
    if value is None:
        return None if nullable else _UNANSWERED
    if isinstance(value, Exception):
        return _UNANSWERED
    try:
        coerced = coerce(value)
    except Exception:  # noqa: BLE001 - as above
        return _UNANSWERED
    return _UNANSWERED if coerced is None or coerced is Undefined else coerced


class DocumentValidationCache(SchemaExtension):
    """Strawberry's ValidationCache keys its LRU by the document, and graphql-core's AST nodes are
    frozen dataclasses that hash by walking the whole tree on every request. The parser cache hands
    out the same document object for the same query text, so this cache keys by that object's
    identity (it keeps the document, so the id cannot be reused while the entry lives) and by the
    schema and the rules."""

    _cache: OrderedDict = OrderedDict()
    MAX_ENTRIES = 512

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema, document, rules = context.schema._schema, context.graphql_document, tuple(context.validation_rules)
        key = (id(schema), id(document), rules)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is document and cached[1] is schema:
            self._cache.move_to_end(key)
            errors = cached[2]
        else:
            errors = validate_document(schema, document, rules)
            self._cache[key] = (document, schema, errors)
            if len(self._cache) > self.MAX_ENTRIES:
                self._cache.popitem(last=False)
        context.pre_execution_errors = errors
        yield
