"""What every GraphQL request is parsed, validated, guarded and masked with, and the POST's lean run
of it (issue 12).

`RequestPipeline` is the schemas' one extension: it parses through the shared parser cache (at most
MAX_TOKENS tokens), validates through the document cache with the query limits, one login a request
and, where introspection is not allowed, NoIntrospection (the rule classes are made once, so that
the cache, keyed by document and rules, hits), refuses control characters in text arguments
(TextGuard's resolve hook, on only when a request could hold one), and masks unexpected errors once
the operation has run.

Strawberry's `Schema.execute` runs it through its extension runner, which makes the extension and
wraps each of its hooks in a context manager on every request: with graphql-core's execution it cost
about a fifth of a member read's CPU in-process besides the SQL. `execute_post` runs the same steps
in the same order as `Schema.execute` (the same errors, the same codes, the same log lines), calling
the pipeline's methods directly; the POST endpoints use it, and anything else (GraphiQL's GET, a
schema with other extensions) keeps Strawberry's own.
"""

from __future__ import annotations

from functools import partial

from graphql import GraphQLError
from graphql.execution import execute
from graphql.execution.middleware import MiddlewareManager
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors, ParserCache
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import optimized_is_awaitable
from strawberry.types.execution import ExecutionResult, PreExecutionError

from domain.errors import DomainError
from resolvers.context import out_of_range
from resolvers.errors import AuthError, QueryError
from schema.execution import DocumentValidationCache
from schema.introspection import IntrospectionGate, NoIntrospection
from schema.limits import QueryLimitsRule
from schema.login_rule import OneLoginPerRequest
from schema.text_guard import TextGuard

MAX_TOKENS = 3000
EXPOSED_ERRORS = (AuthError, QueryError)


def should_mask(error: GraphQLError) -> bool:
    """Parse and validation errors (no original error) and our own auth/query errors are shown;
    anything else is a bug, shown to the client as a bare message (and logged with its stack)."""
    original = error.original_error
    if original is None or isinstance(original, EXPOSED_ERRORS):
        return False
    if isinstance(original, GraphQLError) or isinstance(original, ValueError) and "Fen" in str(original):
        return False
    if isinstance(original, (DomainError, OverflowError)):
        _as_client_error(error, original)
        return False
    return True


def _as_client_error(error: GraphQLError, original: Exception) -> None:
    """A domain refusal that reached the top without its resolver turning it into a payload or a
    QueryError, or a value beyond what Python can hold (a date in year 1 or 9999 moved to a time
    zone, an integer past 2^63): still the client's input, so a coded error rather than a masked bug."""
    refusal = original if isinstance(original, DomainError) else out_of_range()
    error.message = refusal.message("zh")
    error.extensions = {"code": refusal.code, "field": refusal.field}


class CodedMaskErrors(MaskErrors):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_ERROR"}
        return masked

    def _process_result(self, result: object) -> None:
        # Strawberry's own asks isinstance() of a runtime-checkable Protocol, ~10 µs every request.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)


MASK = CodedMaskErrors(should_mask_error=should_mask, error_message="Internal error / 服务器内部错误")


class RequestPipeline(TextGuard, IntrospectionGate, DocumentValidationCache, ParserCache):
    RULES = (QueryLimitsRule, OneLoginPerRequest)

    def __init__(self, *, staff: bool) -> None:
        ParserCache.__init__(self, maxsize=512)
        self.staff = staff

    async def prepare(self) -> None:
        context = self.execution_context
        context.parse_options["max_tokens"] = MAX_TOKENS
        rules = context.validation_rules + self.RULES
        if not await self._may_introspect():
            rules += (NoIntrospection,)
        context.validation_rules = rules

    def parse(self) -> None:
        context = self.execution_context
        context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)

    async def on_operation(self):
        await self.prepare()
        yield
        MASK._process_result(self.execution_context.result)

    def on_parse(self):
        self.parse()
        yield


def protective_extensions(*, staff: bool) -> list:
    return [partial(RequestPipeline, staff=staff)]


def lean_pipeline(schema) -> partial | None:
    """The schema's RequestPipeline factory when it is all the schema runs per request, else None
    (then its requests go through Strawberry's runner, which runs whatever else was added: another
    extension, or the one Strawberry adds for custom directives)."""
    extensions = list(schema.extensions or ())
    if len(extensions) == 1 and getattr(extensions[0], "func", None) is RequestPipeline and not schema.directives:
        return extensions[0]
    return None


async def execute_post(schema, *, query, variables, context, operation_name, operation_extensions, allowed) -> ExecutionResult:
    """What `schema.execute` answers, with RequestPipeline's steps called directly (or through
    `schema.execute` itself when the schema runs more, see lean_pipeline). Raises what it raises
    for the HTTP layer to answer: no query, an unknown operation, an operation type not allowed."""
    pipeline_factory = lean_pipeline(schema)
    if pipeline_factory is None:
        return await schema.execute(query, variable_values=variables, context_value=context, operation_name=operation_name,
                                    operation_extensions=operation_extensions, allowed_operation_types=allowed)
    execution_context = schema._create_execution_context(
        query=query, allowed_operation_types=allowed, variable_values=variables, context_value=context,
        root_value=None, operation_name=operation_name, operation_extensions=operation_extensions,
    )
    pipeline = pipeline_factory()
    pipeline.execution_context = execution_context
    try:
        result = await _run(schema, pipeline, execution_context)
    except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
        raise
    except Exception as error:  # noqa: BLE001 - as Strawberry's execute: the error is the answer
        error = error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)
        result = _refused(schema, execution_context, [error])
    execution_context.result = result
    MASK._process_result(result)
    return result


async def _run(schema, pipeline: RequestPipeline, execution_context) -> ExecutionResult:
    await pipeline.prepare()
    if not execution_context.query:
        raise MissingQueryError
    try:
        pipeline.parse()
    except GraphQLError as error:
        return _refused(schema, execution_context, [error])
    except Exception as error:  # noqa: BLE001 - as Strawberry's: a parser failure is the answer
        return _refused(schema, execution_context, [GraphQLError(str(error), original_error=error)])
    try:
        operation_type = execution_context.operation_type
    except RuntimeError as error:
        raise CannotGetOperationTypeError(execution_context.operation_name) from error
    if operation_type not in execution_context.allowed_operations:
        raise InvalidOperationTypeError(operation_type)
    pipeline.validate()
    if execution_context.pre_execution_errors:
        return _refused(schema, execution_context, execution_context.pre_execution_errors)
    middleware = MiddlewareManager(pipeline) if pipeline._implements_resolve() else MiddlewareManager()
    outcome = execute(
        schema._schema, execution_context.graphql_document, root_value=None, middleware=middleware,
        variable_values=execution_context.variables, operation_name=execution_context.operation_name,
        context_value=execution_context.context, is_awaitable=optimized_is_awaitable,
        executor_class=schema.execution_context_class, operation_extensions=execution_context.operation_extensions,
    )
    if optimized_is_awaitable(outcome):
        outcome = await outcome
    if outcome.errors:
        # Logged and coded before the mask hides what a bug said (as Strawberry's execute).
        execution_context.pre_execution_errors = outcome.errors
        schema._process_errors(outcome.errors, execution_context)
    return ExecutionResult(data=outcome.data, errors=outcome.errors)


def _refused(schema, execution_context, errors: list) -> PreExecutionError:
    execution_context.pre_execution_errors = errors
    schema._process_errors(errors, execution_context)
    return PreExecutionError(data=None, errors=errors)
