"""The `meiye` command as a real process: run it, start `meiye serve` on a free port, wait for
/health, stop it. Used by the tests that must go through the real server and CLI, not ASGI."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

MEIYE = Path(sys.executable).parent / "meiye"
ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 120.0


def cli_env(**overrides: str | None) -> dict[str, str]:
    """The environment for a `meiye` child: none of the caller's MEIYE_* settings leak in, fast
    Argon2 as in the rest of the suite, plus `overrides` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYE_")}
    env["MEIYE_ARGON2_PROFILE"] = "test"
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """`meiye ARGS…` to completion, output captured as text."""
    return subprocess.run(
        [str(MEIYE), *args], env=env or cli_env(), cwd=cwd or ROOT, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=timeout,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode


def start_server(database_url: str, log_path: Path, *, demo: bool = False, env: dict[str, str] | None = None,
                 timeout: float = START_TIMEOUT, workers: int = 1) -> Server:
    """`meiye serve` on a free port, returned once GET /health answers 200. The caller must stop()
    it; on a failed start it is stopped here and the assertion carries its log."""
    port = free_port()
    args = [str(MEIYE), "serve", "--port", str(port), "--database", database_url]
    if demo:
        args.append("--demo")
    if workers != 1:
        args += ["--workers", str(workers)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, env=env or cli_env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, port, log_path)
    try:
        wait_healthy(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_healthy(server: Server, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"meiye serve exited with {server.process.returncode} before answering /health:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"meiye serve did not answer /health within {timeout}s:\n{server.log()}")
        time.sleep(0.1)


async def graphql(http: httpx.AsyncClient, query: str, variables: dict | None = None, *, token: str | None = None) -> dict:
    """The whole response body of one POST /graphql; asserts HTTP 200."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def login(http: httpx.AsyncClient, username: str, password: str = "meiye-demo") -> str:
    body = await graphql(
        http, "mutation($u: String!, $p: String!) { staffLogin(input: {username: $u, password: $p}) { token errors { code message } } }",
        {"u": username, "p": password},
    )
    assert not body.get("errors") and body["data"]["staffLogin"]["errors"] == [], body
    return body["data"]["staffLogin"]["token"]


@contextlib.asynccontextmanager
async def scratch_database(test_url: str, sqlite_path: Path, prefix: str):
    """A brand-new database for one test: a SQLite file, or, when `test_url` is a PostgreSQL URL,
    a uniquely named database on that server, dropped WITH (FORCE) afterwards."""
    if not test_url.startswith("postgresql"):
        yield sqlite_url(sqlite_path)
        return
    url = make_url(test_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            user=url.username or "postgres", password=url.password, host=url.host or "127.0.0.1",
            port=url.port or 5432, database="postgres", timeout=10,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
