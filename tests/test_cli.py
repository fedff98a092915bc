"""The `meiye` command as an operator runs it: ledger verify on an intact and a tampered ledger,
production start-up refusals, bootstrap of a real brand, demo seeding once. Each test runs the
real command in a child process on its own SQLite file; none of this depends on the database, so
it runs in the SQLite half of the suite only."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3

import httpx
import pytest

from domain.db import create_engine, write_transaction
from domain.demo import seed
from domain.members.pii import PiiCipher
from resolvers.settings import DEV_DATA_KEY
from tests.live_server import cli_env, free_port, run_cli, sqlite_url, start_server

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MEIYE_TEST_DATABASE_URL")), reason="CLI tests are not database-specific: the SQLite half runs them"
)

SECRET_KEY = "s" * 20 + "ecret-key-for-the-cli-test"[:20]
DATA_KEY = "d" * 20 + "ata-key-for-the-cli-tests!"[:20]
ACCOUNT_CHECK = "every account's balance equals the sum of its postings"


def count(db_path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql).fetchone()[0]


def check_line(stdout: str, status: str, name: str) -> bool:
    """Whether `meiye ledger verify` printed the check `name` with this status (ok or BROKEN)."""
    pattern = re.compile(rf"{status}\s+{re.escape(name)} \(\d+ checked\)")
    return any(pattern.fullmatch(line.strip()) for line in stdout.splitlines())


def output(result) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# --- meiye ledger verify ------------------------------------------------------------------------


async def test_ledger_verify_passes_on_an_intact_ledger_and_names_the_check_a_tampered_one_breaks(tmp_path):
    db_path = tmp_path / "ledger.db"
    url = sqlite_url(db_path)
    migrated = run_cli("migrate", "--database", url)
    assert migrated.returncode == 0, output(migrated)
    engine = create_engine(url, pool=False)
    try:
        async with write_transaction(engine) as db:
            assert await seed(db, PiiCipher(DEV_DATA_KEY.encode()))
    finally:
        await engine.dispose()

    intact = run_cli("ledger", "verify", "--database", url)
    assert intact.returncode == 0, output(intact)
    assert check_line(intact.stdout, "ok", ACCOUNT_CHECK), output(intact)
    assert "BROKEN" not in intact.stdout, output(intact)
    assert intact.stdout.rstrip().endswith("ledger verified: every invariant holds"), output(intact)

    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        changed = conn.execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id = (SELECT MIN(id) FROM accounts WHERE kind = 'CARD_PRINCIPAL')"
        ).rowcount
    assert changed == 1

    tampered = run_cli("ledger", "verify", "--database", url)
    assert tampered.returncode == 1, output(tampered)
    lines = tampered.stdout.splitlines()
    assert check_line(tampered.stdout, "BROKEN", ACCOUNT_CHECK), output(tampered)
    # The broken account is named, with its stored balance and the sum of its postings.
    assert any(line.strip().startswith("account ") and ":principal" in line for line in lines), output(tampered)
    # Checks the tampering did not touch still pass.
    assert check_line(tampered.stdout, "ok", "every transfer has two or more postings summing to zero"), output(tampered)
    assert "ledger BROKEN" in lines[-1], output(tampered)


# --- production start-up --------------------------------------------------------------------------


def test_production_refuses_demo_mode_and_does_not_start(tmp_path):
    db_path = tmp_path / "prod-demo.db"
    env = cli_env(MEIYE_ENV="production", MEIYE_SECRET_KEY=SECRET_KEY, MEIYE_DATA_KEY=DATA_KEY)
    result = run_cli("serve", "--demo", "--port", str(free_port()), "--database", sqlite_url(db_path), env=env, timeout=60)
    assert result.returncode != 0, output(result)
    assert "refusing to start" in result.stderr and "--demo" in result.stderr, output(result)
    assert "Uvicorn running" not in result.stdout + result.stderr, output(result)
    assert not db_path.exists(), "a refused start must not touch the database"


@pytest.mark.parametrize(
    "secrets, names",
    [
        ({}, "MEIYE_SECRET_KEY"),
        ({"MEIYE_SECRET_KEY": SECRET_KEY}, "MEIYE_DATA_KEY"),
        ({"MEIYE_DATA_KEY": DATA_KEY}, "MEIYE_SECRET_KEY"),
        ({"MEIYE_SECRET_KEY": "too-short", "MEIYE_DATA_KEY": DATA_KEY}, "MEIYE_SECRET_KEY"),
        ({"MEIYE_SECRET_KEY": SECRET_KEY, "MEIYE_DATA_KEY": SECRET_KEY}, "must differ"),
    ],
    ids=["no-secrets", "no-data-key", "no-secret-key", "short-secret-key", "same-secrets"],
)
def test_production_refuses_to_start_without_real_secrets(tmp_path, secrets, names):
    db_path = tmp_path / "prod.db"
    env = cli_env(MEIYE_ENV="production", **secrets)
    result = run_cli("serve", "--port", str(free_port()), "--database", sqlite_url(db_path), env=env, timeout=60)
    assert result.returncode != 0, output(result)
    assert "refusing to start" in result.stderr and names in result.stderr, output(result)
    assert not db_path.exists(), "a refused start must not touch the database"


def test_production_starts_with_real_secrets(tmp_path):
    assert len(SECRET_KEY) == len(DATA_KEY) == 40 and SECRET_KEY != DATA_KEY
    env = cli_env(MEIYE_ENV="production", MEIYE_SECRET_KEY=SECRET_KEY, MEIYE_DATA_KEY=DATA_KEY)
    server = start_server(sqlite_url(tmp_path / "prod-ok.db"), tmp_path / "server.log", env=env)
    try:
        assert httpx.get(f"{server.base_url}/health", timeout=5).json() == {"status": "ok"}
    finally:
        server.stop()
    assert "demo brand" not in server.log(), server.log()


# --- meiye bootstrap ------------------------------------------------------------------------------


def staff_login(base_url: str, username: str, password: str) -> dict:
    response = httpx.post(
        f"{base_url}/graphql", timeout=30,
        json={"query": "mutation($u: String!, $p: String!) { staffLogin(input: {username: $u, password: $p}) {"
                       " token staff { name role store { id } } errors { code } } }",
              "variables": {"u": username, "p": password}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]["staffLogin"]


def test_bootstrap_creates_a_brand_whose_owner_signs_in_and_refuses_a_taken_username(tmp_path):
    db_path = tmp_path / "boot.db"
    url = sqlite_url(db_path)
    env = cli_env(MEIYE_OWNER_PASSWORD="a-long-owner-password")
    created = run_cli("bootstrap", "--brand", "丽人美业", "--store", "南京西路店", "--owner", "boss", "--owner-name", "老板", "--database", url, env=env)
    assert created.returncode == 0, output(created)
    assert "丽人美业" in created.stdout and "南京西路店" in created.stdout and "boss" in created.stdout, output(created)

    server = start_server(url, tmp_path / "server.log")
    try:
        wrong = staff_login(server.base_url, "boss", "not-the-password")
        assert wrong["token"] is None and [e["code"] for e in wrong["errors"]], wrong
        login = staff_login(server.base_url, "boss", "a-long-owner-password")
        assert login["errors"] == [] and login["token"], login
        assert (login["staff"]["name"], login["staff"]["role"], login["staff"]["store"]) == ("老板", "OWNER", None), login
        response = httpx.post(
            f"{server.base_url}/graphql", timeout=30, headers={"authorization": f"Bearer {login['token']}"},
            json={"query": "{ brand { name } stores { id name } }"},
        )
        body = response.json()
        assert not body.get("errors"), body
        assert body["data"]["brand"]["name"] == "丽人美业", body
        assert [s["name"] for s in body["data"]["stores"]] == ["南京西路店"], body
    finally:
        server.stop()
    assert "demo brand" not in server.log(), server.log()

    again = run_cli("bootstrap", "--brand", "另一个品牌", "--store", "另一家店", "--owner", "boss", "--owner-name", "老板二", "--database", url, env=env)
    assert again.returncode == 1, output(again)
    assert "USERNAME_TAKEN" in again.stderr, output(again)
    # Nothing of the refused bootstrap stays behind: it ran in one transaction.
    assert (count(db_path, "SELECT COUNT(*) FROM brands"), count(db_path, "SELECT COUNT(*) FROM stores"), count(db_path, "SELECT COUNT(*) FROM staff")) == (1, 1, 1)


def test_bootstrap_without_a_password_and_no_terminal_refuses(tmp_path):
    db_path = tmp_path / "boot-nopass.db"
    result = run_cli("bootstrap", "--brand", "B", "--store", "S", "--owner", "o", "--owner-name", "O", "--database", sqlite_url(db_path))
    assert result.returncode == 2, output(result)
    assert "MEIYE_OWNER_PASSWORD" in result.stderr, output(result)
    assert not db_path.exists()


# --- meiye serve --demo ---------------------------------------------------------------------------


def test_demo_seeds_once_across_restarts(tmp_path):
    db_path = tmp_path / "demo.db"
    url = sqlite_url(db_path)
    logs, rows = [], []
    for run in range(2):
        server = start_server(url, tmp_path / f"server-{run}.log", demo=True)
        try:
            login = staff_login(server.base_url, "owner", "meiye-demo")
            assert login["errors"] == [], login
            response = httpx.post(
                f"{server.base_url}/graphql", timeout=30, headers={"authorization": f"Bearer {login['token']}"},
                json={"query": "{ stores { name } members(first: 50) { edges { node { name } } } }"},
            )
            body = response.json()
            assert not body.get("errors"), body
            assert sorted(s["name"] for s in body["data"]["stores"]) == ["徐汇店", "静安店"], body
            assert sorted(e["node"]["name"] for e in body["data"]["members"]["edges"]) == sorted(["张小美", "王芳", "李娜"]), body
        finally:
            server.stop()
        logs.append(server.log())
        rows.append({table: count(db_path, f"SELECT COUNT(*) FROM {table}") for table in ("brands", "stores", "staff", "members", "transfers")})
    assert "demo brand seeded" in logs[0] and "already present" not in logs[0], logs[0]
    assert "demo brand already present" in logs[1] and "demo brand seeded" not in logs[1], logs[1]
    assert (rows[0]["brands"], rows[0]["stores"], rows[0]["members"]) == (1, 2, 3), rows
    assert rows[0]["transfers"] >= 2, rows  # at least the demo top-ups
    assert rows[1] == rows[0], "the second start must add nothing"
