"""Hot statements sent straight to asyncpg on PostgreSQL (issue 12).

SQLAlchemy Core costs about 55 µs of CPU a statement on top of asyncpg's own 35 µs, even for a
statement built once: it looks the compiled form up in its cache, builds an execution context,
processes every parameter and result row through its layers, and hops through a greenlet. A
checkout sends 8 statements and a member read 6, so that overhead was a fifth of the server's
CPU. A `Prepared` statement is compiled once per dialect with SQLAlchemy's own compiler (the
same SQL text, bind casts and type processing), and on PostgreSQL its values go to the asyncpg
connection underneath the SQLAlchemy one, through asyncpg's public `fetch` and statement cache.

It never takes a transaction of its own, so it cannot leave one open or commit one: it runs inside
a transaction already begun (asyncpg's `is_in_transaction()`: domain.db's write transaction begins
one before the work) or on a connection in AUTOCOMMIT (a request's reads); on any other connection
the statement goes through SQLAlchemy, which sends its BEGIN first. SQLite, and a statement this
path cannot send as it is (an expanding IN list, Python-side column defaults), always go through
SQLAlchemy. Rows keep SQLAlchemy's attribute and index access; a lost or cut-off connection is not
pooled again.
"""

from __future__ import annotations

import asyncio
from collections import namedtuple
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import any_, bindparam, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection

_DRIVER = "meiye.asyncpg_connection"

# What SQLAlchemy's `before_cursor_execute` is for the statements it sends: `(sql, arguments)` for
# each statement sent here, for the tests and benches that count or record what a request sends.
statement_watchers: list = []


@contextmanager
def watching_statements(engine, watch):
    """`watch(sql, arguments)` for every statement `engine` sends, through SQLAlchemy or here."""

    def from_sqlalchemy(_conn, _cursor, sql, arguments, *_rest):
        watch(sql, arguments)

    event.listen(engine.sync_engine, "before_cursor_execute", from_sqlalchemy)
    statement_watchers.append(watch)
    try:
        yield
    finally:
        statement_watchers.remove(watch)
        event.remove(engine.sync_engine, "before_cursor_execute", from_sqlalchemy)


class Prepared:
    """A statement built once; `await stmt.execute(db, params)` answers like `db.execute`'s result
    for the methods the domain uses (first, one, one_or_none, all, scalar, iteration)."""

    __slots__ = ("statement", "_postgresql", "_compiled")

    def __init__(self, statement, *, postgresql=None) -> None:
        self.statement = statement
        # A PostgreSQL form the driver can take as it is (e.g. `= ANY(:list)` for an expanding IN).
        self._postgresql = postgresql if postgresql is not None else statement
        self._compiled: _Compiled | None | bool = False  # False: not compiled yet; None: not sendable

    async def execute(self, db, params: dict | None = None):
        params = params or {}
        if db.dialect.name != "postgresql":
            return await db.execute(self.statement, params)
        on_driver = getattr(db, "execute_prepared", None)
        if on_driver is not None:  # a request's serialised read connection (resolvers.request_db)
            return await on_driver(self, params)
        return await self.execute_on(db, params)

    async def execute_on(self, conn: AsyncConnection, params: dict):
        compiled = self._compiled
        if compiled is False:
            compiled = self._compiled = _Compiled.of(self._postgresql, conn.dialect)
        driver = await driver_connection(conn)
        if compiled is None or not (driver.is_in_transaction() or conn.sync_connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"):
            return await conn.execute(self._postgresql, params)
        arguments = compiled.arguments(params)
        for watch in statement_watchers:
            watch(compiled.sql, arguments)
        try:
            records = await driver.fetch(compiled.sql, *arguments)
        except (OSError, asyncpg.InterfaceError) as error:
            # The connection is gone or unusable: SQLAlchemy, which saw no error of its own, must not
            # hand it out again.
            await conn.invalidate(error)
            raise
        except asyncio.CancelledError:
            # A statement cut off halfway (the client went away) leaves asyncpg cancelling it on the
            # server: as SQLAlchemy does on its own path, the connection is not pooled again.
            await asyncio.shield(conn.invalidate())
            raise
        return Rows(compiled.rows(records))


async def driver_connection(conn: AsyncConnection):
    """The asyncpg connection under `conn` (remembered with the pooled connection it belongs to)."""
    driver = conn.info.get(_DRIVER)
    if driver is None:
        driver = conn.info[_DRIVER] = (await conn.get_raw_connection()).driver_connection
    return driver


def with_list(build) -> "ListPrepared":
    """`build(is_in)` is the statement, where `is_in(column, name)` stands for `column IN (:name)`
    with the list `params[name]`: SQLite's expanding IN, and on PostgreSQL `column = ANY(:name)`,
    one array parameter, which the driver takes as it is (an expanding IN is rebuilt per length),
    or `column = :name` when every list holds one value (see ListPrepared)."""
    names: list[str] = []

    def recording(column, name: str):
        names.append(name)
        return _one_of(column, name)

    return ListPrepared(Prepared(build(expanding_in), postgresql=build(_any_of)), Prepared(build(recording)), tuple(names))


class ListPrepared:
    """A statement over lists of values, in two forms on PostgreSQL. A dataloader's batch is most
    often one key (a member read asks for one member's cards), and PostgreSQL plans `= ANY($1)`
    anew on every execution, its generic plan for an array of unknown length never looking
    cheaper than a custom one: for the member read's cards that planning cost more than the rest
    of the statement (93 against 33 us of PostgreSQL's CPU). `= $1` gets a generic plan after a
    few executions, like any statement on one key."""

    __slots__ = ("_lists", "_single", "_names")

    def __init__(self, lists: Prepared, single: Prepared, names: tuple[str, ...]) -> None:
        self._lists, self._single, self._names = lists, single, names

    @property
    def statement(self):
        return self._lists.statement

    async def execute(self, db, params: dict):
        if db.dialect.name == "postgresql" and all(len(params[name]) == 1 for name in self._names):
            return await self._single.execute(db, {**params, **{name: params[name][0] for name in self._names}})
        return await self._lists.execute(db, params)


def expanding_in(column, name: str):
    return column.in_(bindparam(name, expanding=True))


def _one_of(column, name: str):
    return column == bindparam(name, type_=column.type)


def _any_of(column, name: str):
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


_MISSING = object()


class _Compiled:
    __slots__ = ("sql", "_sources", "_names", "_bind_processors", "_row", "_processors", "_typed")

    def __init__(self, sql: str, values: list, processors: list | None) -> None:
        self.sql = sql
        # Each positional value: the parameter's key and what stands for it when the caller passes none.
        self._sources = [(key, _MISSING if required else default) for key, _name, required, default, _p in values]
        self._names = [name for _key, name, _r, _d, _p in values]
        self._bind_processors = [(i, process) for i, (_k, _n, _r, _d, process) in enumerate(values) if process is not None]
        self._processors = processors
        # Most columns have no result processor (a statement line has one of 13): only those are visited.
        self._typed = [(i, p) for i, p in enumerate(processors) if p is not None] if processors else []
        self._row = None

    @classmethod
    def of(cls, statement, dialect) -> "_Compiled | None":
        compiled = statement.compile(dialect=dialect)
        sql = compiled.string
        if "POSTCOMPILE" in sql or compiled.positiontup is None:
            return None
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            return None  # column defaults SQLAlchemy computes in Python as it executes
        values = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            values.append((bind.key, name, bind.required, bind.effective_value if not bind.required else None,
                           bind.type.dialect_impl(dialect).bind_processor(dialect)))
        processors = None
        columns = list(getattr(statement, "exported_columns", ()) or ())
        typed = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        if any(typed):
            processors = typed
        return cls(sql, values, processors)

    def arguments(self, params: dict) -> list:
        get = params.get
        found = [get(key, default) for key, default in self._sources]
        if _MISSING in found:
            for i, value in enumerate(found):
                if value is _MISSING:
                    if self._names[i] not in params:
                        raise KeyError(f"no value for bind parameter {self._sources[i][0]!r}")
                    found[i] = params[self._names[i]]
        for i, process in self._bind_processors:
            if found[i] is not None:
                found[i] = process(found[i])
        return found

    def rows(self, records: list) -> list:
        if not records:
            return []
        row = self._row
        if row is None:
            # A name that is no identifier (`?column?`) or comes twice is renamed (`_0`): reachable by
            # position, as it could not have been by attribute through SQLAlchemy either.
            row = self._row = namedtuple("Row", list(records[0].keys()), rename=True)
        processors = self._processors
        make = row._make
        if processors is None or len(processors) != len(records[0]):
            return [make(r) for r in records]
        typed = self._typed
        found = []
        for record in records:
            values = list(record)
            for i, process in typed:
                values[i] = process(values[i])
            found.append(make(values))
        return found


class Rows:
    """The rows of one statement, answering like a SQLAlchemy Result for what the domain calls."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list) -> None:
        self._rows = rows

    def __iter__(self):
        return iter(self._rows)

    def all(self) -> list:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self.first()

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        return self.one_or_none()

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]
