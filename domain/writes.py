"""Writes sent together: a transaction's closing writes in one round trip on PostgreSQL.

A checkout ends with a handful of independent writes (its payments, line amounts, points entry,
audit row, card statement line, outbox event, the idempotency key's response) and the order's own
update. On PostgreSQL they go as one statement, each write a data-modifying CTE of the last; SQLite,
in process, runs them one after another.

Each `Write` names its shape (table, columns) and holds its values; the statement for a batch's
sequence of shapes is built once, with every value a bind parameter, and reused: building and
fingerprinting a statement with its values inlined costs more than the round trip it saves.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import insert_ignoring_conflicts
from domain.prepared import Prepared

MAX_SHAPES = 256


@dataclass(frozen=True, slots=True)
class Write:
    """`build(param, ctes, dialect)` makes the statement, `param(key)` standing for `values[key]`;
    `name` makes it a CTE that later writes of the batch may read (`ctes[name]`), e.g. an inserted
    row's id."""

    shape: tuple
    build: Callable
    values: dict
    name: str | None = None
    reads: tuple[str, ...] = field(default=())


def insert_write(table: Table, values: dict, *, returning: tuple = (), name: str | None = None, skip_conflicts: bool = False) -> Write:
    """An INSERT of one row; `skip_conflicts`: ON CONFLICT DO NOTHING (e.g. an outbox event's dedupe key)."""
    keys = tuple(values)

    def build(param, _ctes, dialect):
        statement = (insert_ignoring_conflicts(dialect, table) if skip_conflicts else insert(table)).values({k: param(k) for k in keys})
        return statement.returning(*returning) if returning else statement

    return Write(("insert", table.name, keys, tuple(c.name for c in returning), skip_conflicts), build, values, name)


def update_write(table: Table, row_id: int, values: dict, *, returning: tuple = ()) -> Write:
    """An update of one row by its primary key `id`."""
    keys = tuple(values)

    def build(param, _ctes, _dialect):
        statement = update(table).where(table.c.id == param("row_id")).values({k: param(k) for k in keys})
        return statement.returning(*returning) if returning else statement

    return Write(("update", table.name, keys, tuple(getattr(c, "name", str(c)) for c in returning)), build, {**values, "row_id": row_id})


_built: OrderedDict = OrderedDict()


def _statement(key: tuple, make):
    statement = _built.get(key)
    if statement is None:
        statement = _built[key] = make()
        if len(_built) > MAX_SHAPES:
            _built.popitem(last=False)
    return statement


def _param(prefix: str):
    return lambda key, type_=None: bindparam(f"{prefix}{key}", type_=type_)


async def execute_together(db: AsyncConnection, writes: list[Write], last: Write):
    """`writes` (none reading what another writes, but for the named ones) and then `last`, whose
    result is returned."""
    dialect = db.dialect.name
    if dialect != "postgresql":
        for write in (*writes, last):
            if write.reads:
                raise AssertionError("a write that reads another's CTE runs on PostgreSQL only")
        result = None
        for write in (*writes, last):
            single = _statement((dialect, write.shape), lambda w=write: w.build(_param("v_"), {}, dialect))
            result = await db.execute(single, {f"v_{k}": v for k, v in write.values.items()})
        return result

    def make():
        ctes: dict = {}
        listed = []
        for i, write in enumerate(writes):
            cte = write.build(_param(f"w{i}_"), ctes, dialect).cte(write.name or f"write_{i}")
            if write.name:
                ctes[write.name] = cte
            listed.append(cte)
        return last.build(_param("last_"), ctes, dialect).add_cte(*listed)

    statement = _statement((dialect, tuple(w.shape + (w.name, w.reads) for w in writes), last.shape), lambda: Prepared(make()))
    params = {f"w{i}_{k}": v for i, w in enumerate(writes) for k, v in w.values.items()}
    params.update({f"last_{k}": v for k, v in last.values.items()})
    return await statement.execute(db, params)
