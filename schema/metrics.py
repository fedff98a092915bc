"""Prometheus metrics at /metrics and readiness at /ready.

Per request: one counter and one histogram observation per GraphQL operation, a counter per error
code and per HTTP status; never a database query. What only the database knows (payments pending,
the outbox's backlog, failed messages) is read at scrape time, in one statement.

`meiye serve --workers N` runs N processes: each writes its values to files in
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, chosen when that variable is set
before the workers start, see `multiprocess_directory`) and /metrics, in whichever worker answers,
adds them all up. One process (tests, one worker) keeps them in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, text
from starlette.responses import JSONResponse, Response

log = logging.getLogger("meiye.metrics")

MAX_OPERATION_NAMES = 200  # operation names are the client's choice: past this many, "(other)"
MAX_OPERATION_NAME_LENGTH = 100
ANONYMOUS, OTHER, UNPARSED = "(anonymous)", "(other)", "(unparsed)"  # no GraphQL name has parentheses
READY_TIMEOUT_SECONDS = 2.0
SCRAPE_TIMEOUT_SECONDS = 2.0
# A `_created` series beside every counter doubles the scrape for a value no dashboard reads.
disable_created_metrics()


def multiprocess() -> bool:
    """Whether this process writes its values to PROMETHEUS_MULTIPROC_DIR: decided by
    prometheus-client when it was first imported, so that is what is asked."""
    return values.ValueClass is not values.MutexValue


class Metrics:
    """One app's metrics (an app of its own per test, so that counts start from zero)."""

    def __init__(self, gauges=None) -> None:
        # `gauges`: async (engine) -> list of GaugeMetricFamily read from the database at scrape time.
        self.gauges = gauges
        self.registry = registry = CollectorRegistry()
        labels = ("endpoint", "operation")
        self.requests = Counter("meiye_graphql_requests", "GraphQL requests by endpoint (staff, customer) and operation name", labels, registry=registry)
        self.latency = Histogram("meiye_graphql_request_duration_seconds", "GraphQL request latency, seconds", labels, registry=registry)
        self.errors = Counter("meiye_errors", "Error codes answered (payload errors and extensions.code)", ("endpoint", "code"), registry=registry)
        self.responses = Counter("meiye_http_responses", "HTTP responses by status", ("status",), registry=registry)
        self.callbacks_rejected = Counter(
            "meiye_payment_callbacks_rejected", "Payment callbacks refused (nothing applied)", ("channel", "reason"), registry=registry,
        )
        self.pool_checked_out = Gauge("meiye_db_pool_checked_out", "Database connections in use", registry=registry, multiprocess_mode="livesum")
        self.pool_size = Gauge("meiye_db_pool_size", "Database connections the pool keeps (overflow excluded)", registry=registry, multiprocess_mode="livesum")
        self._names: set[str] = set()
        self._children: dict = {}  # (endpoint, operation) -> (counter, histogram): labels() takes a lock
        self._last_gauges: list = []
        registry.register(_Snapshot(self))

    def operation_label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        if name in self._names:
            return name
        if len(self._names) >= MAX_OPERATION_NAMES or len(name) > MAX_OPERATION_NAME_LENGTH:
            return OTHER
        self._names.add(name)
        return name

    def observe_request(self, record, status: int, seconds: float) -> None:
        self.responses.labels(str(status)).inc()
        endpoint = record.endpoint or "other"
        for code in record.codes:
            self.errors.labels(endpoint, code).inc()
        if record.endpoint is None:
            return
        operation = self.operation_label(record.operation) if record.parsed else UNPARSED
        key = (endpoint, operation)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key), self.latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)

    def callback_rejected(self, channel: str, reason: str) -> None:
        self.callbacks_rejected.labels(channel, reason).inc()

    @contextlib.contextmanager
    def watching_pool(self, engine):
        """Connections in use, counted by the pool's own events (exact in every worker, summed
        across them); the listeners go when the app stops, since tests share one engine."""
        pool = engine.sync_engine.pool
        size = getattr(pool, "size", None)
        self.pool_size.set(size() if callable(size) else 0)

        def checked_out(*_args) -> None:
            self.pool_checked_out.inc()

        def checked_in(*_args) -> None:
            self.pool_checked_out.dec()

        event.listen(pool, "checkout", checked_out)
        event.listen(pool, "checkin", checked_in)
        try:
            yield
        finally:
            event.remove(pool, "checkout", checked_out)
            event.remove(pool, "checkin", checked_in)
            if multiprocess():
                from prometheus_client import multiprocess as mp

                mp.mark_process_dead(os.getpid())

    async def exposition(self, engine) -> bytes:
        self._last_gauges = await self._read_gauges(engine)
        if not multiprocess():
            return generate_latest(self.registry)
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        registry.register(_Snapshot(self))
        return generate_latest(registry)

    async def _read_gauges(self, engine) -> list:
        if self.gauges is None:
            return []
        up = GaugeMetricFamily("meiye_database_up", "1 when the scrape's database query answered")
        try:
            async with asyncio.timeout(SCRAPE_TIMEOUT_SECONDS):
                families = await self.gauges(engine)
        except Exception as error:  # noqa: BLE001 - a scrape reports the database down rather than failing
            log.warning("metrics: database gauges unavailable: %s", type(error).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]


class _Snapshot:
    """The database gauges the endpoint read just before this scrape (a collector is synchronous)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        return list(self.metrics._last_gauges)


def metrics_route(metrics: Metrics, services_ref: dict, settings):
    async def endpoint(request) -> Response:
        refusal = _refusal(request, settings)
        if refusal is not None:
            return refusal
        body = await metrics.exposition(services_ref["services"].engine)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return endpoint


def _refusal(request, settings) -> Response | None:
    """Open in development; in production only for whoever sends MEIYE_METRICS_TOKEN as a bearer
    token (and for nobody when it is not set): the counts tell a stranger the traffic and backlog."""
    if not settings.production:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode()):
        return None
    return JSONResponse({"status": "unauthorized", "code": "UNAUTHENTICATED"}, status_code=401, headers={"www-authenticate": "Bearer"})


def ready_route(services_ref: dict):
    async def ready(_request) -> Response:
        """Ready when the database answers `SELECT 1` within READY_TIMEOUT_SECONDS; /health stays
        the liveness check that never touches it (a database outage must not restart every process)."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                async with services_ref["services"].engine.connect() as db:
                    await db.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - whatever the driver raises, the answer is "not ready"
            log.warning("not ready: database unavailable (%s)", type(error).__name__)
            return JSONResponse({"status": "unavailable", "code": "DATABASE_UNAVAILABLE"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return ready


def worker_metrics_dead(pid: int) -> None:
    """A worker has ended, cleanly or not: its live gauges (pool use) no longer count."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(pid)


@contextlib.contextmanager
def multiprocess_directory(workers: int):
    """For `meiye serve --workers N` (N > 1): PROMETHEUS_MULTIPROC_DIR set before the workers
    start, to the operator's directory (emptied: values of a previous run would be added in) or to
    a fresh temporary one, removed afterwards. One worker keeps its values in memory."""
    if workers <= 1:
        yield
        return
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="meiye-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
