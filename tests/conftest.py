"""Test harness: one migrated database per run (SQLite by default, PostgreSQL when
MEIYE_TEST_DATABASE_URL is set), emptied before each test; the app driven over ASGI."""

from __future__ import annotations

import asyncio
import os
import tempfile

os.environ.setdefault("MEIYE_ARGON2_PROFILE", "test")

import httpx
import pytest
from sqlalchemy import text

from domain.db import create_engine, is_sqlite, write_transaction
from domain.demo import seed
from domain.members.pii import PiiCipher
from domain.migrate import upgrade
from domain.models import metadata
from resolvers.settings import Settings
from schema.app import create_app
from tests.support import GraphQLClient, fresh_postgres_database

TEST_URL = os.environ.get("MEIYE_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='meiye-test-')}/test.db"


@pytest.fixture(scope="session")
def database_url() -> str:
    if is_sqlite(TEST_URL):
        return TEST_URL
    return fresh_postgres_database(TEST_URL)


@pytest.fixture(scope="session")
def on_postgres(database_url) -> bool:
    return not is_sqlite(database_url)


@pytest.fixture(scope="session")
async def engine(database_url):
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def clean_database(request, engine):
    names = [t.name for t in reversed(metadata.sorted_tables)]
    # DELETE, not TRUNCATE: on PostgreSQL TRUNCATE costs a fixed ~20 ms per table even when empty.
    async with write_transaction(engine) as db:
        for name in names:
            await db.execute(text(f"DELETE FROM {name}"))
    yield


@pytest.fixture(scope="session")
def settings(database_url) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture(scope="session")
def cipher(settings) -> PiiCipher:
    return PiiCipher(settings.data_key.encode())


@pytest.fixture(scope="session")
async def app(settings, engine):
    application = create_app(settings, engine=engine)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meiye.test") as http:
        yield GraphQLClient(http)


@pytest.fixture
async def demo(engine, cipher, client):
    """The demo brand, with a signed-in client for each of its six staff accounts."""
    async with write_transaction(engine) as db:
        await seed(db, cipher)
    return await client.demo_brand()
