"""The app in the bench's own process, for benches that measure the server's work without a network."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from domain.db import create_engine, write_transaction
from domain.demo import seed
from domain.members.pii import PiiCipher
from domain.migrate import upgrade
from resolvers.settings import Settings
from schema.app import create_app
from tests.support import GraphQLClient


@contextlib.asynccontextmanager
async def demo_app(url: str):
    """(engine, http client, demo brand) of the app on `url`, migrated and seeded with the demo brand."""
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url)
    engine = create_engine(url)
    try:
        async with write_transaction(engine) as db:
            await seed(db, PiiCipher(settings.data_key.encode()))
        app = create_app(settings, engine=engine)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
                yield engine, http, await GraphQLClient(http).demo_brand()
    finally:
        await engine.dispose()
