"""The `meiye` command and the ASGI app factory.

    meiye serve [--demo] [--host H] [--port P] [--database URL] [--workers N]
    meiye migrate [--database URL]
    meiye ledger verify [--database URL]
    meiye bootstrap --brand NAME --store NAME --owner USERNAME --owner-name NAME [--database URL]
    meiye worker [--once] [--database URL]
    meiye reconcile --channel wechat|alipay --date YYYY-MM-DD --file BILL [--fix] [--database URL]
    meiye export-schema
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from resolvers.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parent
SCHEMA_FILES = {"staff": ROOT / "schema" / "staff.graphql", "customer": ROOT / "schema" / "customer.graphql"}


def app():
    """uvicorn's factory: settings come from the environment `serve` prepared."""
    from schema.app import create_app
    from schema.observability import configure_access_log

    # A worker of `--workers N` is a fresh process that main() never configured: without this its
    # own log lines (client errors, rejected callbacks) would be dropped below WARNING.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_access_log()
    return create_app(Settings.from_env(demo=os.environ.get("MEIYE_DEMO") == "1" or None), freeze_gc=True)


def _settings(args) -> Settings:
    return Settings.from_env(database_url=getattr(args, "database", None), demo=getattr(args, "demo", False) or None)


def _migrate(url: str) -> None:
    from domain.migrate import upgrade

    upgrade(url)


async def _with_connection(url: str, work):
    from domain.db import create_engine, write_transaction

    engine = create_engine(url, pool=False)
    try:
        async with write_transaction(engine) as db:
            return await work(db)
    finally:
        await engine.dispose()


def cmd_serve(args) -> int:
    settings = _settings(args)
    settings.check()
    _migrate(settings.database_url)
    if settings.demo:
        from domain import demo
        from domain.members.pii import PiiCipher

        seeded = asyncio.run(_with_connection(settings.database_url, lambda db: demo.seed(db, PiiCipher(settings.data_key.encode()))))
        print("demo brand seeded" if seeded else "demo brand already present", file=sys.stderr)
        print(f"staff accounts: owner, manager, reception, technician, finance, marketer / password {demo.DEMO_PASSWORD}", file=sys.stderr)
    os.environ["MEIYE_DATABASE_URL"] = settings.database_url
    os.environ.setdefault("MEIYE_PUBLIC_URL", f"http://{args.host}:{args.port}")
    if settings.demo:
        os.environ["MEIYE_DEMO"] = "1"
    import uvicorn

    from schema.metrics import multiprocess_directory, worker_metrics_dead
    from schema.serving import serve_workers

    standins = _standins_apart() if settings.demo and args.workers > 1 else None
    options = dict(
        app="meiye:app", factory=True, host=args.host, port=args.port, loop="uvloop", http="httptools", log_level="info",
        access_log=not settings.access_log,  # ours (meiye.access) says more, and in JSON
    )
    try:
        with multiprocess_directory(args.workers):  # before the workers start: they read it on import
            if args.workers > 1:
                # A listening socket per worker (schema.serving), not uvicorn's one shared socket.
                return serve_workers(options, args.workers, on_worker_exit=worker_metrics_dead)
            uvicorn.run(**options)
    finally:
        if standins is not None:
            from integrations import demo

            standins.stop()
            demo.forget()
    return 0


def _standins_apart():
    """Several demo workers share one set of stand-ins (their orders live in memory), served from
    this supervising process; started after the seed, before the workers."""
    from integrations import demo, runtime

    server = demo.DemoStandins(runtime.public_url()).serve_apart()
    print(f"demo stand-ins for all workers at {server.base_url}{demo.PREFIX} (also under /_standins on every worker)", file=sys.stderr)
    return server


def cmd_worker(args) -> int:
    """Query payments that never got a callback, close expired ones, turn outbox events into reminders
    and send the due ones; safe in several processes."""
    from integrations import runtime, worker
    from schema.app import make_services

    settings = _settings(args)
    settings.check()

    async def main_loop():
        services = make_services(settings)
        services.platforms = await runtime.setup(services, settings, None)
        try:
            if args.once:
                print(await worker.run_once(services))
            else:
                await worker.run_forever(services, interval=args.interval)
        finally:
            await services.engine.dispose()

    asyncio.run(main_loop())
    return 0


def cmd_reconcile(args) -> int:
    """Match a platform bill against payment intents; --fix applies what is safe (paid there, pending here)."""
    import datetime as dt

    from domain.members.customers import Channel
    from domain.payments import reconciliation
    from integrations import bills

    settings = _settings(args)
    channel = Channel(args.channel.upper())
    data = Path(args.file).read_bytes()
    rows = bills.parse_wechat_trade_bill(data) if channel == Channel.WECHAT else bills.parse_alipay_bill(data)
    day = dt.date.fromisoformat(args.date)

    async def work(db):
        report = await reconciliation.reconcile(db, brand_id=args.brand_id, channel=channel, day=day, rows=rows)
        fixed = await reconciliation.fix_safe(db, report) if args.fix else 0
        return report, fixed

    report, fixed = asyncio.run(_with_connection(settings.database_url, work))
    print(f"{channel.value} bill of {day}: {len(rows)} rows")
    for name in ("matched", "missing_here", "missing_there", "amount_differs", "status_differs"):
        items = getattr(report, name)
        total = getattr(report.totals, name)
        print(f"  {name:15} {len(items):5}   ours ¥{total.ours / 100:,.2f}   theirs ¥{total.theirs / 100:,.2f}")
        if name != "matched":
            for item in items[:50]:
                print(f"      {item.kind} {item.out_trade_no} {item.platform_trade_no or '-'} ours {item.our_amount} {item.our_status} "
                      f"theirs {item.their_amount} {item.their_status}{' (fixable)' if item.fixable else ''}{' ' + item.note if item.note else ''}")
    if args.fix:
        print(f"fixed {fixed} payment(s) through the callback path")
    elif report.fixable:
        print(f"{len(report.fixable)} can be fixed safely: run again with --fix")
    return 0


def cmd_migrate(args) -> int:
    settings = _settings(args)
    _migrate(settings.database_url)
    print(f"migrated {_redact(settings.database_url)} to head")
    return 0


def cmd_ledger_verify(args) -> int:
    from domain.invariants import verify_all

    settings = _settings(args)
    checks = asyncio.run(_with_connection(settings.database_url, verify_all))
    broken = 0
    for check in checks:
        mark = "ok " if not check.broken else "BROKEN"
        print(f"{mark} {check.name} ({check.checked} checked)")
        for line in check.broken[:20]:
            print(f"     {line}")
        broken += len(check.broken)
    print("ledger verified: every invariant holds" if not broken else f"ledger BROKEN: {broken} violation(s)")
    return 0 if not broken else 1


def cmd_bootstrap(args) -> int:
    """Create a real brand with its first store and owner account."""
    from domain.actor import Role
    from domain.brands import staff as staff_accounts
    from domain.brands import stores as tenancy
    from domain.ledger.store_accounts import open_store
    from domain.errors import DomainError

    settings = _settings(args)
    password = os.environ.get("MEIYE_OWNER_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("set MEIYE_OWNER_PASSWORD or run interactively", file=sys.stderr)
            return 2
        password = getpass.getpass("owner password: ")
        if password != getpass.getpass("again: "):
            print("passwords differ", file=sys.stderr)
            return 2
    _migrate(settings.database_url)

    async def work(db):
        brand_id = await tenancy.create_brand(db, name=args.brand)
        store_id = await open_store(db, brand_id=brand_id, name=args.store)
        await staff_accounts.create_staff(db, brand_id=brand_id, store_id=None, username=args.owner, name=args.owner_name, role=Role.OWNER, password=password)
        return brand_id, store_id

    try:
        brand_id, store_id = asyncio.run(_with_connection(settings.database_url, work))
    except DomainError as error:
        print(f"{error.code}: {error.message()} ({error.field})", file=sys.stderr)
        return 1
    print(f"brand {args.brand} (id {brand_id}) with store {args.store} (id {store_id}); owner account {args.owner}")
    return 0


def cmd_export_schema(_args) -> int:
    from schema.root import build_customer_schema, build_staff_schema

    for name, build in (("staff", build_staff_schema), ("customer", build_customer_schema)):
        SCHEMA_FILES[name].write_text(build().as_str() + "\n", encoding="utf-8")
        print(f"wrote {SCHEMA_FILES[name].relative_to(ROOT)}")
    return 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meiye", description="GraphQL backend for beauty-salon chains")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server (migrations are applied first)")
    serve.add_argument("--demo", action="store_true", help="seed the demo brand (refused in production)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--database", help="SQLAlchemy URL; default $MEIYE_DATABASE_URL or ./meiye.db")
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    work = sub.add_parser("worker", help="query pending payments, close expired ones, send due reminders (any number may run)")
    work.add_argument("--database")
    work.add_argument("--once", action="store_true", help="one pass, then exit")
    work.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    work.set_defaults(func=cmd_worker)

    recon = sub.add_parser("reconcile", help="match a WeChat trade bill (CSV) or an Alipay bill (zip) against payments")
    recon.add_argument("--channel", required=True, choices=["wechat", "alipay"])
    recon.add_argument("--date", required=True, help="the bill's day, YYYY-MM-DD (Asia/Shanghai)")
    recon.add_argument("--file", required=True)
    recon.add_argument("--brand-id", type=int, default=None)
    recon.add_argument("--fix", action="store_true", help="apply what is safe: paid there, pending here, same amount")
    recon.add_argument("--database")
    recon.set_defaults(func=cmd_reconcile)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--database")
    migrate.set_defaults(func=cmd_migrate)

    ledger = sub.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_sub.add_parser("verify", help="check every ledger invariant; exit 1 on any break")
    verify.add_argument("--database")
    verify.set_defaults(func=cmd_ledger_verify)

    boot = sub.add_parser("bootstrap", help="create a brand, its first store and owner (password from $MEIYE_OWNER_PASSWORD or a prompt)")
    boot.add_argument("--brand", required=True)
    boot.add_argument("--store", required=True)
    boot.add_argument("--owner", required=True, help="the owner's username")
    boot.add_argument("--owner-name", required=True)
    boot.add_argument("--database")
    boot.set_defaults(func=cmd_bootstrap)

    export = sub.add_parser("export-schema", help="write the SDL files under schema/")
    export.set_defaults(func=cmd_export_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as error:
        print(f"refusing to start: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
