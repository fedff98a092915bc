"""One login per request (DESIGN.md §8): a document with several login fields (aliases, fragments,
several operations) is refused before anything runs, so no password is checked at all and one
request cannot try many passwords."""

from __future__ import annotations

from graphql import GraphQLError, ValidationRule
from graphql.language import DocumentNode, FieldNode

LOGIN_FIELDS = frozenset({"staffLogin", "wechatLogin", "alipayLogin"})


class OneLoginPerRequest(ValidationRule):
    def enter_document(self, node: DocumentNode, *_args):
        logins: list[FieldNode] = []

        def walk(selection_set) -> None:
            for selection in selection_set.selections if selection_set else ():
                if isinstance(selection, FieldNode) and selection.name.value in LOGIN_FIELDS:
                    logins.append(selection)
                walk(getattr(selection, "selection_set", None))

        for definition in node.definitions:
            walk(getattr(definition, "selection_set", None))
        if len(logins) > 1:
            self.report_error(
                GraphQLError(
                    "每次请求只能登录一次 / One login per request",
                    logins,
                    extensions={"code": "ONE_LOGIN_PER_REQUEST"},
                )
            )
        return self.BREAK
