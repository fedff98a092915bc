"""Database plumbing shared by every domain module: metadata, engine, column helpers.

Money code runs on both PostgreSQL and SQLite, so nothing here relies on one dialect's locks:
writers serialise on conditional UPDATEs and unique constraints (DESIGN.md §3).
"""

from __future__ import annotations

import datetime as dt
import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    TypeDecorator,
    event,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from domain.prepared import driver_connection

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite's INTEGER PRIMARY KEY is the rowid alias only when typed exactly INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")
# The largest row id a BIGINT holds: an id from a client past it names no row (and asyncpg refuses it).
MAX_ROW_ID = 2**63 - 1


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator):
    """Timestamps in UTC on both databases; SQLite would otherwise hand back naive datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def created_at_column() -> Column:
    return Column("created_at", UtcDateTime(), nullable=False, default=utcnow)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# Connections a worker keeps open (MEIYE_DB_POOL_SIZE, read by resolvers.settings): a request holds
# at most one at a time (its reads, or its write transaction), so this is the number of requests a
# worker serves at once without waiting; the overflow absorbs bursts but is closed after each use.
DEFAULT_POOL_SIZE = 20
MAX_OVERFLOW = 10


def create_engine(url: str, *, pool: bool = True, echo: bool = False, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """An async engine for `postgresql+asyncpg://` or `sqlite+aiosqlite://` URLs.

    SQLite gets the documented pysqlite recipe (driver-level autocommit off, our own BEGIN) so
    that SAVEPOINT works and a write transaction can take the write lock up front with
    BEGIN IMMEDIATE: without it two deferred transactions that both read then write deadlock
    and one fails with "database is locked" instead of waiting.
    """
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _install_sqlite_hooks(engine)
        return engine
    kwargs: dict = {"echo": echo}
    if pool:
        kwargs.update(pool_size=pool_size, max_overflow=MAX_OVERFLOW, pool_pre_ping=False)
    else:
        kwargs["poolclass"] = NullPool
    return create_async_engine(url, **kwargs)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver callback
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection):  # pragma: no cover - driver callback
        options = connection.get_execution_options()
        if options.get("autocommit_reads"):
            # A request's read connection (resolvers.request_db): each statement on its own, as
            # PostgreSQL's AUTOCOMMIT; the driver's ROLLBACK at checkin is then a no-op.
            return
        mode = "IMMEDIATE" if options.get("sqlite_write") else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One business operation: one transaction that commits on success, rolls back on any error.

    On PostgreSQL the transaction is asyncpg's own, begun before the first statement, and SQLAlchemy
    runs in AUTOCOMMIT inside it (its statements, savepoints included, go into that transaction):
    so every statement of the operation, the first one too, can go straight to the driver
    (domain.prepared), and SQLAlchemy's lazy BEGIN and its commit cost nothing (about 100 µs of CPU
    an operation). A connection whose transaction could not be ended is never pooled again."""
    async with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            await conn.execution_options(sqlite_write=True)
            async with conn.begin():
                yield conn
            return
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        driver = await driver_connection(conn)
        if driver.is_in_transaction():
            # Not ours to finish: a pooled connection is never handed out in a transaction.
            await conn.invalidate()
            raise RuntimeError("a pooled connection was still in a transaction")
        transaction = driver.transaction()
        await transaction.start()
        try:
            yield conn
        except BaseException:
            try:
                await transaction.rollback()
            except BaseException:  # noqa: BLE001 - the error being raised is the one to report
                pass
            await _never_pool_unfinished(conn, driver)
            raise
        try:
            await transaction.commit()
        finally:
            await _never_pool_unfinished(conn, driver)


async def _never_pool_unfinished(conn: AsyncConnection, driver) -> None:
    """A connection still in a transaction (a rollback that failed, a cancelled commit, a lost
    connection) is discarded, not pooled: the next operation would otherwise run inside it."""
    if conn.invalidated or driver.is_closed() or driver.is_in_transaction():
        await asyncio.shield(conn.invalidate())


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        async with conn.begin():
            yield conn


class PerDialect:
    """A statement built once for each dialect it runs on (PostgreSQL's and SQLite's ON CONFLICT
    are different constructs), for hot paths that should not rebuild it on every call."""

    def __init__(self, build) -> None:
        self._build = build
        self._built: dict[str, object] = {}

    def __call__(self, db: AsyncConnection):
        name = db.dialect.name
        statement = self._built.get(name)
        if statement is None:
            statement = self._built[name] = self._build(db)
        return statement


def insert_ignoring_conflicts(db: AsyncConnection | str, table: Table):
    """INSERT … ON CONFLICT DO NOTHING in the connection's (or the named) dialect."""
    if (db if isinstance(db, str) else db.dialect.name) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing()
