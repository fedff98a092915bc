"""Hot statements sent straight to the driver (domain.prepared, issue 12) answer exactly what
SQLAlchemy answers, never run outside the transaction they belong to, and are seen by the
statement watchers that the tests and benches count with."""

import asyncio
import datetime as dt

import pytest
from sqlalchemy import Column, MetaData, String, Table, bindparam, insert, select, text

from domain.db import Id, UtcDateTime, read_transaction, utcnow, write_transaction
from domain.ledger.postings import accounts
from domain.outbox import outbox_events
from domain.prepared import Prepared, watching_statements, with_list

# Its own metadata: not one of the application's tables, which the migration tests compare.
_probe = Table("prepared_probe", MetaData(), Column("id", Id, primary_key=True), Column("label", String(20), nullable=False),
               Column("at", UtcDateTime(), nullable=False, default=utcnow))


@pytest.fixture
async def probe_table(engine):
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: _probe.create(sync, checkfirst=True))
    yield
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: _probe.drop(sync, checkfirst=True))


_insert_probe = Prepared(insert(_probe).values(label=bindparam("p_label"), at=bindparam("p_at")).returning(_probe))
_probes_by_labels = with_list(lambda is_in: select(_probe).where(is_in(_probe.c.label, "labels")).order_by(_probe.c.id))


async def test_rows_answer_as_sqlalchemy_rows(engine, probe_table):
    at = dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    async with write_transaction(engine) as db:
        await db.execute(text("SELECT 1"))  # BEGIN sent: what follows may go to the driver
        row = (await _insert_probe.execute(db, {"p_label": "甲", "p_at": at})).one()
        second = (await _insert_probe.execute(db, {"p_label": "乙", "p_at": at})).one()
    assert (row.label, row.at, row.at.tzinfo is not None) == ("甲", at, True)
    assert row.at.utcoffset() == dt.timedelta(0)  # UtcDateTime's processing, as SQLAlchemy does it
    async with read_transaction(engine) as db:
        found = (await _probes_by_labels.execute(db, {"labels": ["乙", "甲", "丙"]})).all()
        through_sqlalchemy = (await db.execute(_probes_by_labels.statement, {"labels": ["乙", "甲", "丙"]})).all()
        assert [tuple(r) for r in found] == [tuple(r) for r in through_sqlalchemy]
        assert [r.id for r in found] == [row.id, second.id]
        assert (await _probes_by_labels.execute(db, {"labels": []})).all() == []
        assert (await _probes_by_labels.execute(db, {"labels": ["丙"]})).first() is None
        count = Prepared(select(_probe.c.id).where(_probe.c.label == bindparam("label")))
        assert (await count.execute(db, {"label": "甲"})).scalar() == row.id
        assert (await count.execute(db, {"label": "丙"})).scalar_one_or_none() is None


async def test_a_write_before_the_transaction_began_goes_through_sqlalchemy_and_rolls_back(engine, probe_table):
    at = utcnow()
    with pytest.raises(RuntimeError):
        async with write_transaction(engine) as db:
            await _insert_probe.execute(db, {"p_label": "甲", "p_at": at})  # the transaction's first statement
            await _insert_probe.execute(db, {"p_label": "乙", "p_at": at})
            raise RuntimeError("rolled back")
    async with write_transaction(engine) as db:
        await _insert_probe.execute(db, {"p_label": "丙", "p_at": at})
        await _insert_probe.execute(db, {"p_label": "丁", "p_at": at})
    async with read_transaction(engine) as db:
        assert list((await db.execute(select(_probe.c.label).order_by(_probe.c.id))).scalars()) == ["丙", "丁"]


async def test_python_side_defaults_are_left_to_sqlalchemy(engine, probe_table):
    without_at = Prepared(insert(_probe).values(label=bindparam("p_label")).returning(_probe.c.at))
    async with write_transaction(engine) as db:
        await db.execute(text("SELECT 1"))
        at = (await without_at.execute(db, {"p_label": "甲"})).scalar()
    assert at is not None and abs((utcnow() - at).total_seconds()) < 60


async def test_watchers_see_every_statement_and_its_arguments(engine, probe_table, on_postgres):
    seen = []
    at = utcnow()
    with watching_statements(engine, lambda sql, arguments: seen.append((sql, tuple(arguments)))):
        async with write_transaction(engine) as db:
            await db.execute(text("SELECT 1"))
            await _insert_probe.execute(db, {"p_label": "甲", "p_at": at})
    statements = [sql for sql, _ in seen if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    assert len(statements) == 2 and statements[1].lstrip().upper().startswith("INSERT INTO PREPARED_PROBE")
    assert "甲" in seen[-1][1]


async def test_a_missing_value_is_refused_before_anything_is_sent(engine, on_postgres):
    if not on_postgres:
        pytest.skip("SQLite runs every statement through SQLAlchemy")
    balance = Prepared(select(accounts.c.balance).where(accounts.c.id == bindparam("account")))
    async with write_transaction(engine) as db:
        await db.execute(text("SELECT 1"))
        with pytest.raises(KeyError):
            await balance.execute(db, {})
        assert (await balance.execute(db, {"account": -1})).first() is None  # the transaction is still usable


def test_the_outbox_insert_of_a_batch_has_no_python_side_default():
    # Writes sent together (domain.writes) carry every value: a Python-side default there would
    # make the batch fall back to SQLAlchemy, one statement a write on PostgreSQL.
    from sqlalchemy.dialects import postgresql

    compiled = insert(outbox_events).values({c.name: bindparam(c.name) for c in outbox_events.c if c.name != "id"}).compile(
        dialect=postgresql.asyncpg.dialect())
    assert not compiled.insert_prefetch


async def test_a_cancelled_write_leaves_no_transaction_on_a_pooled_connection(database_url, on_postgres, probe_table):
    if not on_postgres:
        pytest.skip("the transaction is asyncpg's own on PostgreSQL only")
    from domain.db import create_engine

    engine = create_engine(database_url, pool_size=1)  # one pooled connection: the next write gets the cancelled one's
    try:
        begun = asyncio.Event()

        async def slow_write():
            async with write_transaction(engine) as db:
                await _insert_probe.execute(db, {"p_label": "甲", "p_at": utcnow()})
                begun.set()
                await db.execute(text("SELECT pg_sleep(10)"))

        task = asyncio.create_task(slow_write())
        await begun.wait()
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for label in ("乙", "丙"):
            async with write_transaction(engine) as db:
                await _insert_probe.execute(db, {"p_label": label, "p_at": utcnow()})
        async with read_transaction(engine) as db:
            assert list((await db.execute(select(_probe.c.label).order_by(_probe.c.id))).scalars()) == ["乙", "丙"]
    finally:
        await engine.dispose()


async def test_a_read_cut_off_halfway_does_not_pool_its_connection(database_url, on_postgres):
    if not on_postgres:
        pytest.skip("SQLite runs every statement through SQLAlchemy")
    from domain.db import create_engine

    engine = create_engine(database_url, pool_size=1)
    slow = Prepared(select(text("pg_sleep(10)")))
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")  # as a request's read connection
            task = asyncio.create_task(slow.execute(conn, {}))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert conn.invalidated
        async with engine.connect() as conn:  # the pool hands out a fresh, working connection
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            assert (await Prepared(select(text("1"))).execute(conn, {})).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_list_of_one_is_sent_as_one_value_and_answers_the_same(engine, probe_table, on_postgres):
    # PostgreSQL plans `= ANY($1)` anew each time; a list of one goes as `= $1`, a longer one as an
    # array, and both answer what SQLAlchemy's expanding IN answers.
    at = utcnow()
    async with write_transaction(engine) as db:
        await db.execute(text("SELECT 1"))
        ids = [(await _insert_probe.execute(db, {"p_label": label, "p_at": at})).one().id for label in ("甲", "乙", "丙")]
    seen = []
    async with read_transaction(engine) as db:
        with watching_statements(engine, lambda sql, arguments: seen.append((sql, tuple(arguments)))):
            one = (await _probes_by_labels.execute(db, {"labels": ["乙"]})).all()
            two = (await _probes_by_labels.execute(db, {"labels": ["丙", "甲"]})).all()
            none = (await _probes_by_labels.execute(db, {"labels": []})).all()
        for labels, rows in ((["乙"], one), (["丙", "甲"], two), ([], none)):
            expected = (await db.execute(_probes_by_labels.statement, {"labels": labels})).all()
            assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
    assert [r.id for r in one] == [ids[1]] and [r.id for r in two] == [ids[0], ids[2]] and none == []
    if on_postgres:
        assert [arguments for _sql, arguments in seen] == [("乙",), (["丙", "甲"],), ([],)]
        assert "= $1" in seen[0][0] and "ANY" not in seen[0][0] and "= ANY ($1" in seen[1][0]
