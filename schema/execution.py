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

from graphql import GraphQLField, GraphQLNonNull, GraphQLSchema, is_leaf_type
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

# Set on each GraphQLField of a schema once: (resolver, python name, output coercion), or None.
_PLAIN = "meiye_plain_leaf"


def _basic_leaf(field: GraphQLField):
    strawberry_field = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    # Strawberry hands a basic field a resolver of that name, and only when no exception handler
    # applies to it either; any other resolver is left to graphql-core.
    if strawberry_field is None or field.args or getattr(field.resolve, "__name__", "") != "_get_basic_result":
        return None
    if not getattr(strawberry_field, "is_basic_field", False):
        return None
    leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not is_leaf_type(leaf):
        return None
    return strawberry_field.default_resolver, strawberry_field.python_name, leaf.coerce_output_value


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

    def execute_field(self, parent_type, source, field_details_list, path, position_context):
        if self._shortcut:
            field = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            plain = getattr(field, _PLAIN, None)
            if plain is not None:
                resolve, name, coerce = plain
                value = resolve(source, name)
                if value is not None and not isinstance(value, Exception):
                    try:
                        coerced = coerce(value)
                    except Exception:  # noqa: BLE001 - graphql-core's path below reports it, with its path
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
