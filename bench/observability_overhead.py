"""What the request id, the access line and the metrics cost a request: `{ __typename }` in process
through httpx's ASGITransport (no network, no database), with the Observability middleware taken
out, with it and the log off, and with it writing its JSON lines (to /dev/null); then the middleware
alone around an app that answers at once, called directly (no client), which isolates its own cost.
CPU time of this process, not wall time: the machine is shared.

    .venv/bin/python -m bench.observability_overhead [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time

import httpx

from domain.migrate import upgrade
from resolvers.settings import Settings
from schema.app import create_app
from schema.observability import Observability, access_log


def variant(app, keep: bool):
    app.user_middleware = [m for m in app.user_middleware if keep or m.cls is not Observability]
    app.middleware_stack = None
    if not keep:  # a GraphQL POST is answered before Starlette's middleware (schema.graphql_http)
        app.graphql_posts = {path: answer.app for path, answer in app.graphql_posts.items()}
    return app


async def per_request_us(app, requests: int) -> float:
    body = {"query": "{ __typename }"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
        for _ in range(50):
            await http.post("/graphql", json=body)
        started = time.process_time()
        for _ in range(requests):
            await http.post("/graphql", json=body)
        return (time.process_time() - started) / requests * 1e6


async def middleware_alone_us(requests: int, metrics) -> float:
    async def bare(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message):
        pass

    app = Observability(bare, metrics=metrics) if metrics is not False else bare
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [(b"x-request-id", b"bench-1")]}
    started = time.process_time()
    for _ in range(requests * 10):
        await app(scope, receive, send)
    return (time.process_time() - started) / (requests * 10) * 1e6


async def main(requests: int, rounds: int) -> None:
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='meiye-obs-')}/bench.db"
    await asyncio.to_thread(upgrade, url)
    devnull = logging.StreamHandler(open("/dev/null", "w"))  # noqa: SIM115 - lives as long as the run
    access_log.propagate = False
    cases = {"without middleware": (False, False), "middleware, log off": (True, False), "middleware + JSON log": (True, True)}
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (keep, log_on) in cases.items():
            if log_on:
                access_log.addHandler(devnull)
                access_log.setLevel(logging.INFO)
            else:
                access_log.removeHandler(devnull)
                access_log.setLevel(logging.WARNING)
            app = variant(create_app(Settings(database_url=url)), keep)
            async with app.router.lifespan_context(app):
                results[name].append(await per_request_us(app, requests))
    report("in-process GraphQL requests", results)
    from schema.metrics import Metrics

    alone: dict[str, list[float]] = {"bare app": [], "middleware + metrics": [], "middleware + metrics + log": []}
    for _ in range(rounds):
        access_log.removeHandler(devnull)
        access_log.setLevel(logging.WARNING)
        alone["bare app"].append(await middleware_alone_us(requests, False))
        alone["middleware + metrics"].append(await middleware_alone_us(requests, Metrics()))
        access_log.addHandler(devnull)
        access_log.setLevel(logging.INFO)
        alone["middleware + metrics + log"].append(await middleware_alone_us(requests, Metrics()))
    report("the middleware alone", alone)


def report(title: str, results: dict[str, list[float]]) -> None:
    print(title)
    base = statistics.median(next(iter(results.values())))
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:28} {median:8.1f} µs/request   (+{median - base:5.1f} µs)   rounds {', '.join(f'{v:.1f}' for v in values)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
