"""Plain fields answered straight from their objects (issue 12).

A member read completes about 250 values, nearly all of them a plain attribute of a Strawberry
object: a statement line's `amount`, its `node`, the connection's `edges` and `pageInfo`. For each
one graphql-core builds a resolve-info object and a path, calls Strawberry's default resolver,
checks twice whether the result is awaitable and walks the type's wrappers: about 4 µs a leaf and
7 µs an object, the largest part of a read's CPU after the SQL. A *basic* field (Strawberry's own
term: no resolver, no argument, no permission class, no field extension) is answered here with the
same attribute read, the same `is_type_of` check and the same output coercion, and nothing else,
when everything below it is basic too: a whole connection returned by a resolver is completed in
one recursive pass.

Anything else takes graphql-core's path unchanged: a field with a resolver or arguments, an
interface or union, @defer, an operation with resolve middleware (a schema extension's `resolve`
hook, e.g. the text guard's), and any value the shortcut cannot complete as it is (None on a
non-null field, an exception, a value a scalar refuses, something that is no list where a list
goes). The shortcut then answers nothing of that value and graphql-core completes it again from
the start, so errors, their paths and null propagation stay graphql-core's own. Reading a basic
field twice is harmless: it is an attribute.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import (
    FieldNode, FragmentSpreadNode, GraphQLField, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, InlineFragmentNode,
    is_leaf_type,
)
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter

# Set on each GraphQLField of a schema once: (resolver, python name) of a basic field, or None.
_BASIC = "meiye_basic_field"
_UNANSWERED = object()
_LEAF, _LIST, _OBJECT = 0, 1, 2


def _basic_field(field: GraphQLField):
    strawberry_field = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    # Strawberry hands a basic field a resolver of that name, and only when no exception handler
    # applies to it either; any other resolver is left to graphql-core.
    if strawberry_field is None or field.args or getattr(field.resolve, "__name__", "") != "_get_basic_result":
        return None
    if not getattr(strawberry_field, "is_basic_field", False):
        return None
    return strawberry_field.default_resolver, strawberry_field.python_name


def _strawberry_is_type_of(object_type: GraphQLObjectType) -> bool:
    """Whether graphql-core's `is_type_of` check on this type is Strawberry's own isinstance test,
    which never reads the resolve info (the shortcut has none to give)."""
    check = object_type.is_type_of
    return check is None or getattr(check, "__qualname__", "").endswith("_get_is_type_of.<locals>.is_type_of")


def index_basic_fields(schema: GraphQLSchema) -> None:
    if getattr(schema, _BASIC, False):
        return
    for named in schema.type_map.values():
        for field in (getattr(named, "fields", None) or {}).values():
            if isinstance(field, GraphQLField):
                setattr(field, _BASIC, _basic_field(field))
    setattr(schema, _BASIC, True)


def _type_name(_source, name):
    return name


_TYPE_NAME = (False, _LEAF, str)


class PlainLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        index_basic_fields(self.schema)
        # Strawberry passes a manager on every request, empty unless an extension hooks `resolve`.
        self._shortcut = not (self.middleware_manager and self.middleware_manager.middlewares)
        # Per selection of this request, keyed by ids of objects kept alive in the value (so an
        # id is not reused): how to complete it, or None when graphql-core must.
        self._plans: dict[int, tuple] = {}
        self._completers: dict[tuple, tuple] = {}
        # Without a directive (@skip, @include, @defer) the document alone decides what a selection
        # collects, whatever the variables: its completers serve every request that sends it.
        self._shareable = self.operation is not None and _without_directives(self.operation, self.fragments)

    # -- what a selection compiles to --------------------------------------------------------

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set):
        """(response name, resolver, attribute, completer) for each field of a selection set on
        `parent_type`, or None when one of them is not basic all the way down."""
        key = id(grouped_field_set)
        kept = self._plans.get(key)
        if kept is not None and kept[0] is grouped_field_set and kept[1] is parent_type:
            return kept[2]
        plan = []
        for response_name, field_details_list in grouped_field_set.items():
            field_name = field_details_list[0].node.name.value
            if field_name == "__typename":
                plan.append((response_name, _type_name, parent_type.name, _TYPE_NAME))
                continue
            field = self.schema.get_field(parent_type, field_name)
            basic = getattr(field, _BASIC, None)
            completer = self._completer(field.type, field_details_list) if basic is not None else None
            if completer is None:
                plan = None
                break
            plan.append((response_name, basic[0], basic[1], completer))
        self._plans[key] = (grouped_field_set, parent_type, plan)
        return plan

    def _completer(self, return_type, field_details_list):
        key = (id(return_type), id(field_details_list))
        kept = self._completers.get(key)
        if kept is not None and kept[0] is field_details_list and kept[1] is return_type:
            return kept[2]
        completer = _SHARED.get(return_type, field_details_list) if self._shareable else _MISSING
        if completer is _MISSING:
            completer = self._build_completer(return_type, field_details_list)
            if self._shareable:
                _SHARED.put(return_type, field_details_list, completer)
        self._completers[key] = (field_details_list, return_type, completer)
        return completer

    def _build_completer(self, return_type, field_details_list):
        """(nullable, kind, what completes it): a leaf's output coercion, a list's item
        completer, an object's plan; or None when graphql-core must complete this type."""
        nullable = not isinstance(return_type, GraphQLNonNull)
        inner = return_type if nullable else return_type.of_type
        if is_leaf_type(inner):
            return nullable, _LEAF, inner.coerce_output_value
        if isinstance(inner, GraphQLList):
            item = self._build_completer(inner.of_type, field_details_list)
            return None if item is None else (nullable, _LIST, item)
        if isinstance(inner, GraphQLObjectType) and _strawberry_is_type_of(inner):
            grouped_field_set, defer_usages, _ = self.collect_subfields(inner, field_details_list)
            if defer_usages:
                return None
            plan = self._plan(inner, grouped_field_set)
            return None if plan is None else (nullable, _OBJECT, (inner.is_type_of, plan))
        return None

    # -- graphql-core's hooks ----------------------------------------------------------------

    def execute_fields(self, parent_type, source_value, path, grouped_field_set, position_context):
        # An object whose selected fields are all basic (a statement line's node, a card, a
        # whole connection) is answered in one pass: no path, call or awaitable check a field.
        if self._shortcut:
            plan = self._plan(parent_type, grouped_field_set)
            if plan is not None:
                answered = _complete_fields(plan, source_value)
                if answered is not _UNANSWERED:
                    return answered
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

    def execute_field(self, parent_type, source, field_details_list, path, position_context):
        # A basic field among others that are not (a member's name beside its cards).
        if self._shortcut:
            field = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            basic = getattr(field, _BASIC, None)
            if basic is not None:
                value = self._shortcut_value(field.type, field_details_list, basic[0], source, basic[1])
                if value is not _UNANSWERED:
                    return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def complete_value(self, return_type, field_details_list, info, path, result, position_context):
        # What a resolver returned (a member's cards, a page of statement lines), when everything
        # selected on it is basic.
        if self._shortcut:
            value = self._shortcut_value(return_type, field_details_list, _given, result, None)
            if value is not _UNANSWERED:
                return value
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    def _shortcut_value(self, return_type, field_details_list, resolve, source, attribute):
        """`resolve(source, attribute)` completed as `return_type`, or _UNANSWERED: the resolver's
        own error too (an object without the attribute) is left to graphql-core to report."""
        completer = self._completer(return_type, field_details_list)
        if completer is None:
            return _UNANSWERED
        try:
            return _complete(completer, resolve(source, attribute))
        except Exception:  # noqa: BLE001 - graphql-core's own path reports it, with its path
            return _UNANSWERED


def _given(value, _attribute):
    return value


_MISSING = object()


class SharedCompleters:
    """Completers of the selections of documents sent before, keyed by the identity of the field
    nodes (the parser cache hands out the same document for the same text) and of the type. An
    entry keeps its nodes and type alive, so that their ids are not reused while it lives; a node
    belongs to one document, so its fragments are that document's too."""

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: OrderedDict = OrderedDict()

    @staticmethod
    def _nodes(field_details_list) -> tuple | None:
        if any(d.defer_usage is not None or d.fragment_variable_values is not None for d in field_details_list):
            return None
        return tuple(d.node for d in field_details_list)

    def get(self, return_type, field_details_list):
        nodes = self._nodes(field_details_list)
        if nodes is None:
            return _MISSING
        kept = self._entries.get((id(return_type), *map(id, nodes)))
        if kept is None or kept[0] is not return_type or any(a is not b for a, b in zip(kept[1], nodes)):
            return _MISSING
        return kept[2]

    def put(self, return_type, field_details_list, completer) -> None:
        nodes = self._nodes(field_details_list)
        if nodes is None:
            return
        self._entries[(id(return_type), *map(id, nodes))] = (return_type, nodes, completer)
        if len(self._entries) > self.MAX_ENTRIES:
            self._entries.popitem(last=False)


_SHARED = SharedCompleters()


_DIRECTIVE_FREE: OrderedDict = OrderedDict()


def _without_directives(operation, fragments) -> bool:
    """Whether no selection of the operation or its fragments has a directive; walked once per
    document (the entry keeps the operation, so its id is not reused while the entry lives)."""
    kept = _DIRECTIVE_FREE.get(id(operation))
    if kept is not None and kept[0] is operation:
        return kept[1]
    answer = _walk_without_directives(operation, fragments)
    _DIRECTIVE_FREE[id(operation)] = (operation, answer)
    if len(_DIRECTIVE_FREE) > SharedCompleters.MAX_ENTRIES:
        _DIRECTIVE_FREE.popitem(last=False)
    return answer


def _walk_without_directives(operation, fragments) -> bool:
    pending = [operation.selection_set, *(f.definition.selection_set for f in (fragments or {}).values())]
    pending.extend(f.definition for f in (fragments or {}).values())
    while pending:
        node = pending.pop()
        if node is None:
            continue
        if getattr(node, "directives", None):
            return False
        if isinstance(node, FieldNode | InlineFragmentNode):
            pending.append(node.selection_set)
        elif not isinstance(node, FragmentSpreadNode) and hasattr(node, "selections"):
            pending.extend(node.selections)
    return True


def _complete(completer, value):
    """`value` completed as graphql-core would complete it, or _UNANSWERED when graphql-core's
    own path must answer it (it then reports the error, with its path and null propagation)."""
    nullable, kind, how = completer
    if value is None:
        return None if nullable else _UNANSWERED
    if isinstance(value, Exception) or value is Undefined:
        return _UNANSWERED
    if kind == _LEAF:
        coerced = how(value)
        return _UNANSWERED if coerced is None or coerced is Undefined else coerced
    if kind == _LIST:
        # graphql-core takes any iterable but a string or a mapping; the shortcut takes the two
        # that resolvers return and leaves anything else to it.
        if type(value) is not list and type(value) is not tuple:
            return _UNANSWERED
        items = []
        for item in value:
            completed = _complete(how, item)
            if completed is _UNANSWERED:
                return _UNANSWERED
            items.append(completed)
        return items
    is_type_of, plan = how
    if is_type_of is not None and is_type_of(value, None) is not True:
        return _UNANSWERED
    return _complete_fields(plan, value)


def _complete_fields(plan, source):
    answered = {}
    try:
        for response_name, resolve, attribute, completer in plan:
            completed = _complete(completer, resolve(source, attribute))
            if completed is _UNANSWERED:
                return _UNANSWERED
            answered[response_name] = completed
    except Exception:  # noqa: BLE001 - graphql-core's own path reports it, with its path
        return _UNANSWERED
    return answered


class DocumentValidationCache(SchemaExtension):
    """Strawberry's ValidationCache keys its LRU by the document, and graphql-core's AST nodes are
    frozen dataclasses that hash by walking the whole tree on every request. The parser cache hands
    out the same document object for the same query text, so this cache keys by that object's
    identity (it keeps the document, so the id cannot be reused while the entry lives) and by the
    schema and the rules."""

    _cache: OrderedDict = OrderedDict()
    MAX_ENTRIES = 512

    def on_validate(self) -> Iterator[None]:
        self.validate()
        yield

    def validate(self) -> None:
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
