"""Introspection for those who build against the API (DESIGN.md §8): always in development and
demo mode; in production only for signed-in staff on /graphql, and for no one on /mp/graphql
(the mini-program is built against customer.graphql, and its users are the public)."""

from __future__ import annotations

from graphql import GraphQLError, ValidationRule
from strawberry.extensions import SchemaExtension

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class NoIntrospection(ValidationRule):
    def enter_field(self, node, *_args):
        if node.name.value in INTROSPECTION_FIELDS:
            self.report_error(
                GraphQLError(
                    "生产环境需登录后才能查看接口结构 / Introspection needs a staff sign-in in production",
                    node,
                    extensions={"code": "INTROSPECTION_DISABLED"},
                )
            )


class IntrospectionGate(SchemaExtension):
    """Adds NoIntrospection to the validation rules of a request that may not introspect. The
    rule is one class, so ValidationCache (keyed by document and rules) still hits."""

    def __init__(self, *, staff: bool) -> None:
        # Strawberry makes one per request and sets execution_context itself.
        self.staff = staff

    async def _may_introspect(self) -> bool:
        ctx = self.execution_context.context
        if not ctx.services.settings.production:
            return True
        return self.staff and await ctx.signed_in()

    async def on_operation(self):
        if not await self._may_introspect():
            self.execution_context.validation_rules = self.execution_context.validation_rules + (NoIntrospection,)
        yield
