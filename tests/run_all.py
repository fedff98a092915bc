"""The whole suite, on the embedded database and then on PostgreSQL.

    python -m tests.run_all [pytest args]

PostgreSQL comes from MEIYE_TEST_POSTGRES_URL (default: the local server, database meiye_test).
Without a reachable server the PostgreSQL half is skipped with a warning, unless
MEIYE_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/meiye_test"


def postgres_reachable(url: str) -> str | None:
    """None when a server answers, else why not."""
    parsed = make_url(url)

    async def probe():
        conn = await asyncpg.connect(
            user=parsed.username or "postgres", password=parsed.password, host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432, database="postgres", timeout=5,
        )
        await conn.close()

    try:
        asyncio.run(probe())
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable", reported below
        return f"{type(error).__name__}: {error}"


def run_pytest(label: str, env: dict, args: list[str]) -> int:
    print(f"\n=== tests on {label} ===", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


def main() -> int:
    args = sys.argv[1:]
    base = {k: v for k, v in os.environ.items() if k != "MEIYE_TEST_DATABASE_URL"}
    results = {"SQLite": run_pytest("SQLite (aiosqlite)", base, args)}
    pg_url = os.environ.get("MEIYE_TEST_POSTGRES_URL", DEFAULT_PG)
    problem = postgres_reachable(pg_url)
    if problem is None:
        results["PostgreSQL"] = run_pytest("PostgreSQL (asyncpg)", {**base, "MEIYE_TEST_DATABASE_URL": pg_url}, args)
    elif os.environ.get("MEIYE_REQUIRE_POSTGRES") == "1":
        print(f"\nPostgreSQL is required (MEIYE_REQUIRE_POSTGRES=1) but not reachable: {problem}", file=sys.stderr)
        results["PostgreSQL"] = 1
    else:
        print(f"\nWARNING: PostgreSQL not reachable, its half of the suite did not run: {problem}", file=sys.stderr)
    print("\n=== summary: " + ", ".join(f"{db} {'passed' if rc == 0 else 'FAILED'}" for db, rc in results.items()) + " ===")
    return 0 if all(rc == 0 for rc in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
