"""What one document may ask for: nesting depth, a non-empty selection everywhere, and an estimated
cost, checked while the document is validated (so the ValidationCache keeps the verdict).

The cost is the number of objects the answer could hold: every field that returns objects costs 1
per object, and a field that pages (`first: N`) or returns a list multiplies the cost of what is
selected under it by N (a list without `first`: DEFAULT_LIST_SIZE). Scalars are free: the rows they
come from are already counted. `first` given by a variable counts as the variable's default, or
as MAX_PAGE without one, because the verdict is cached per document, not per request.
`members(first: 100) { edges { node { transactions(first: 100) { edges { node { amount } } } } } }`
costs 20,301, just over MAX_COST; thirty aliases of it (609 k) were the denial of service.

Aliases are counted in the same walk (at most MAX_ALIASES).
Introspection (`__schema`, `__type`) is left out as QueryDepthLimiter did: its size is the schema's.
"""

from __future__ import annotations

import logging

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
)

from domain.errors import request_message
from domain.pagination import MAX_PAGE

log = logging.getLogger("meiye.graphql")

MAX_DEPTH = 10
MAX_COST = 20_000
DEFAULT_LIST_SIZE = 10
MAX_VISITS = 20_000
MAX_ALIASES = 30


class _Refused(Exception):
    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


def _error(code: str, node, **params: object) -> GraphQLError:
    return GraphQLError(request_message(code, **params), [node], extensions={"code": code})


class QueryLimitsRule(ValidationRule):
    """Replaces Strawberry's QueryDepthLimiter, which fails with `max() arg is an empty sequence`
    on `{ }`, and its MaxAliasesLimiter; both follow every fragment spread without bound, so forty
    fragments that each spread the next twice kept them busy for 2^40 steps."""

    def enter_document(self, node, *_args):
        self._fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
        schema = self.context.schema
        for definition in node.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            self._defaults = _variable_defaults(definition)
            self._budget = MAX_VISITS
            self._aliases = 0
            root = schema.get_root_type(definition.operation)
            try:
                cost = self._cost(definition.selection_set, root, 0, frozenset(), 0)
                if self._aliases > MAX_ALIASES:
                    raise _Refused(_error("TOO_MANY_ALIASES", definition, count=self._aliases, max=MAX_ALIASES))
                if cost > MAX_COST:
                    raise _Refused(_error("QUERY_TOO_COSTLY", definition, cost=cost, max=MAX_COST))
            except _Refused as refused:
                self.report_error(refused.error)
            except Exception:  # noqa: BLE001 - Strawberry would show the exception's text to the client
                log.exception("query limits failed on a document")
                self.report_error(GraphQLError("Internal error / 服务器内部错误", [definition], extensions={"code": "INTERNAL_ERROR"}))
        return self.SKIP

    def _cost(self, selection_set, parent, depth: int, seen: frozenset, nest: int) -> int:
        """`depth` counts fields; `nest` counts fragments too, so that `{ ... { ... { ... } } }`
        cannot recurse past the stack while `depth` stays 0."""
        if selection_set is None:
            return 0
        if not selection_set.selections:
            raise _Refused(_error("EMPTY_SELECTION", selection_set))
        if nest > 3 * MAX_DEPTH:
            raise _Refused(_error("QUERY_TOO_DEEP", selection_set, max=MAX_DEPTH))
        nest += 1
        self._budget -= len(selection_set.selections)
        if self._budget < 0:
            # Fragments spread twice at each level double the walk each time; stop counting.
            raise _Refused(_error("QUERY_TOO_COSTLY", selection_set, cost=f">{MAX_COST}", max=MAX_COST))
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field_cost(selection, parent, depth, seen, nest)
            elif isinstance(selection, InlineFragmentNode):
                condition = self._type(selection.type_condition) if selection.type_condition else parent
                total += self._cost(selection.selection_set, condition, depth, seen, nest)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is not None and name not in seen:  # unknown or cyclic: the standard rules report it
                    total += self._cost(fragment.selection_set, self._type(fragment.type_condition), depth, seen | {name}, nest)
        return total

    def _field_cost(self, field: FieldNode, parent, depth: int, seen: frozenset, nest: int) -> int:
        name = field.name.value
        if field.alias is not None:
            self._aliases += 1
        if name.startswith("__"):
            return 0
        if depth > MAX_DEPTH:
            raise _Refused(_error("QUERY_TOO_DEEP", field, max=MAX_DEPTH))
        definition = parent.fields.get(name) if isinstance(parent, GraphQLObjectType) else None
        if definition is None:
            # An interface's or an unknown field: cost its selection as if it were one object.
            return 1 + self._cost(field.selection_set, None, depth + 1, seen, nest) if field.selection_set else 0
        returned = get_named_type(definition.type)
        if not is_composite_type(returned):
            return 0
        children = self._cost(field.selection_set, returned, depth + 1, seen, nest)
        return 1 + self._multiplier(field, definition, parent) * children

    def _multiplier(self, field: FieldNode, definition, parent) -> int:
        if "first" in definition.args:
            given = next((a.value for a in field.arguments or () if a.name.value == "first"), None)
            if given is None:
                size = definition.args["first"].default_value
            elif isinstance(given, IntValueNode):
                size = int(given.value)
            elif isinstance(given, VariableNode):
                size = self._defaults.get(given.name.value, MAX_PAGE)
            else:
                size = MAX_PAGE
            # Past the cap the resolver refuses the page; up to it, the page is what is asked.
            return min(max(size if isinstance(size, int) else MAX_PAGE, 1), MAX_PAGE)
        if isinstance(get_nullable_type(definition.type), GraphQLList):
            # A connection's edges are the page its `first` already counted.
            return 1 if parent.name.endswith("Connection") else DEFAULT_LIST_SIZE
        return 1

    def _type(self, named):
        return self.context.schema.get_type(named.name.value) if named is not None else None


def _variable_defaults(operation: OperationDefinitionNode) -> dict[str, int]:
    return {
        v.variable.name.value: int(v.default_value.value)
        for v in operation.variable_definitions or ()
        if isinstance(v.default_value, IntValueNode)
    }
