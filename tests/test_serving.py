"""`meiye serve --workers 2` (schema.serving): connections opened at once are spread over both
workers, a worker that dies is replaced, and a port already taken fails the start."""

import asyncio
import json
import os
import signal
import time

import httpx

from tests.live_server import run_cli, sqlite_url, start_server


def answered_by(server) -> set[int]:
    pids = set()
    for line in server.log().splitlines():
        if line.startswith("{") and '"pid"' in line:
            pids.add(json.loads(line)["pid"])
    return pids


async def requests_on_fresh_connections(server, n: int) -> None:
    clients = [httpx.AsyncClient(base_url=server.base_url, timeout=30) for _ in range(n)]
    try:
        answers = await asyncio.gather(*(c.post("/graphql", json={"query": "{ __typename }"}) for c in clients))
        assert all(a.status_code == 200 for a in answers)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def test_connections_opened_at_once_reach_both_workers_and_a_dead_worker_is_replaced(tmp_path):
    server = start_server(sqlite_url(tmp_path / "workers.db"), tmp_path / "server.log", workers=2)
    try:
        # uvicorn's one shared socket gave all of these to whichever worker woke first, often.
        await requests_on_fresh_connections(server, 16)
        first = answered_by(server)
        assert len(first) == 2, server.log()[-2000:]

        os.kill(min(first), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            await requests_on_fresh_connections(server, 16)
            if len(answered_by(server) - {min(first)}) == 2:
                break
        assert len(answered_by(server) - {min(first)}) == 2, server.log()[-2000:]
        assert f"worker {min(first)} exited" in server.log()
    finally:
        assert server.stop() == 0


def test_a_port_in_use_fails_the_start(tmp_path):
    server = start_server(sqlite_url(tmp_path / "first.db"), tmp_path / "server.log", workers=2)
    try:
        second = run_cli("serve", "--workers", "2", "--port", str(server.port), "--database", sqlite_url(tmp_path / "second.db"), timeout=60)
        assert second.returncode == 1 and "Address already in use" in second.stderr + second.stdout
    finally:
        server.stop()
