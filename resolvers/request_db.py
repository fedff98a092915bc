"""A request's one database connection for its reads (issue 12).

Every read of a request (the actor's staff row, each root field, each dataloader batch) goes
through one pooled connection, taken on first use and given back when the request ends
(schema.app's endpoint closes it in a `finally`). Before, each batch and each root field took its
own connection and transaction: 3 round trips and a pool checkout per batch, and under load the
pool's overflow opened and closed hundreds of PostgreSQL connections a second.

Strawberry resolves sibling fields and dataloader batches in concurrent tasks, and one connection
must not run two statements at once, so each statement holds a lock while it runs. Results are
buffered by both drivers (asyncpg and aiosqlite fetch every row inside `execute`), so the lock is
released as soon as the statement returns and no result is read from the connection after it.

No transaction brackets the reads. On PostgreSQL the connection runs in AUTOCOMMIT: the reads ran
in READ COMMITTED before, where each statement takes its own snapshot anyway, so nothing that was
consistent becomes inconsistent, and the BEGIN and ROLLBACK round trips are gone. One transaction
for the whole request would be wrong, not just slower, on SQLite: its snapshot would hide what the
request's own mutation commits on its write connection from the payload read after it. SQLite
reads therefore run without BEGIN too (domain.db skips its BEGIN for `autocommit_reads`).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.db import write_transaction


_READS_ENGINE = "meiye_reads_engine"


def reads_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` with its connections in AUTOCOMMIT (PostgreSQL) or without BEGIN (SQLite), sharing
    its pool: made once, so that a request's connection takes no execution_options call of its
    own (a greenlet and a copy of the options each time, about 20 us)."""
    found = engine.sync_engine.__dict__.get(_READS_ENGINE)
    if found is None:
        options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {"autocommit_reads": True}
        found = engine.sync_engine.__dict__[_READS_ENGINE] = engine.execution_options(**options)
    return found


class RequestFinished(RuntimeError):
    """A read after the request's connection was closed: a task outlived its request."""


class RequestConnection:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self.db = SerialisedConnection(self)

    async def _connection(self) -> AsyncConnection:
        """The open connection, taken from the pool on first use (the lock is held)."""
        if self._closed:
            raise RequestFinished("the request has ended; its connection is closed")
        if self._conn is None:
            self._conn = await reads_engine(self._engine).connect()
        return self._conn

    async def run(self, method: str, *args, **kwargs):
        async with self._lock:
            conn = await self._connection()
            return await getattr(conn, method)(*args, **kwargs)

    async def run_prepared(self, prepared, params: dict):
        async with self._lock:
            return await prepared.execute_on(await self._connection(), params)

    async def put_back(self) -> None:
        """Give the connection back to the pool now; a later read takes one again. A write
        transaction calls this first, so that no request holds one connection while it waits for
        another (a burst of requests each holding a read connection could drain the pool and
        wait on each other until the pool's timeout). Shielded (one task), so that a cancelled
        request still returns its connection rather than leaving it to the garbage collector;
        nothing to do, and no task, when no connection is open and no statement is running."""
        if self._conn is not None or self._lock.locked():
            await asyncio.shield(self._give_back())

    async def _give_back(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator["SerialisedConnection"]:
        """A block of reads: they go through the request's connection, one statement at a time."""
        yield self.db

    @asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[AsyncConnection]:
        """domain.db.write_transaction, after giving the read connection back (see put_back)."""
        await self.put_back()
        async with write_transaction(self._engine) as db:
            yield db

    async def close(self) -> None:
        """The request has ended: back to the pool, and any later use is an error."""
        self._closed = True
        await self.put_back()


class SerialisedConnection:
    """What domain functions are handed as `db` for reads: an AsyncConnection's statement methods,
    each run under the request's lock. Anything else (a savepoint, a stream) is refused, since
    those would hold the connection across statements."""

    def __init__(self, owner: RequestConnection) -> None:
        self._owner = owner
        self.dialect = owner._engine.dialect

    async def execute(self, *args, **kwargs):
        return await self._owner.run("execute", *args, **kwargs)

    async def execute_prepared(self, prepared, params: dict):
        """A domain.prepared statement, sent to the driver under the request's lock."""
        return await self._owner.run_prepared(prepared, params)

    async def scalar(self, *args, **kwargs):
        return await self._owner.run("scalar", *args, **kwargs)

    async def scalars(self, *args, **kwargs):
        return await self._owner.run("scalars", *args, **kwargs)

    async def exec_driver_sql(self, *args, **kwargs):
        return await self._owner.run("exec_driver_sql", *args, **kwargs)

    def __getattr__(self, name: str):
        raise AttributeError(f"{name}: a request's read connection runs single statements only; use a transaction for more")
