"""`meiye serve --workers N`: N server processes on one port, each with a listening socket of its own.

uvicorn's own workers share one listening socket, and the worker whose event loop wakes first
accepts every connection waiting. Clients that open their connections at once (a proxy's pool,
a load generator's 16) often all landed on one worker while the other idled: three runs of six of
`wrk -c16` against two workers went wholly to one of them, at 70 % of the rate. Here each worker
binds its own socket with SO_REUSEPORT and the kernel spreads new connections over them.

The supervising process binds the port first (a port in use fails at once, with the error, and
`--port 0` is resolved once for every worker) but never listens on it, so it gets no connections.
It restarts a worker that dies, marks the dead one's metrics dead (prometheus-client's multiprocess
files), and on SIGINT or SIGTERM stops every worker and waits for them.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.connection import wait

log = logging.getLogger("meiye")

STOP_TIMEOUT = 30.0
# A worker that fails this soon after it started failed to start (a bad setting, a module that does
# not import): starting it again would fail the same way, so the server stops with its exit code.
STARTUP_SECONDS = 10.0


def reuse_port_socket(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _reserve(host: str, port: int) -> socket.socket:
    """The port, for this server's workers only. SO_REUSEPORT would let any process of the same
    user bind it too and take a share of the connections, so a bind without it comes first: it
    fails while anything holds the port, another `meiye serve` included."""
    probe = reuse_port_socket(host, port, reuse_port=False)
    port = probe.getsockname()[1]
    probe.close()
    return reuse_port_socket(host, port)


def _worker(options: dict) -> None:  # pragma: no cover - runs in the worker process
    import uvicorn

    config = uvicorn.Config(**options)
    uvicorn.Server(config).run(sockets=[reuse_port_socket(config.host, config.port)])


def serve_workers(options: dict, workers: int, *, on_worker_exit=None) -> int:
    """Run `workers` uvicorn servers configured by `options` (uvicorn.Config's arguments) until a
    signal stops them; `on_worker_exit(pid)` after each worker ends."""
    try:
        reserved = _reserve(options.get("host", "127.0.0.1"), options.get("port", 8000))
    except OSError as error:
        log.error("cannot listen on %s:%s: %s", options.get("host"), options.get("port"), error.strerror or error)
        return 1
    options = {**options, "port": reserved.getsockname()[1]}
    spawn = multiprocessing.get_context("spawn")
    running: list = []
    started_at: dict[int, float] = {}
    stopping = False
    failed = 0

    def start() -> None:
        process = spawn.Process(target=_worker, args=(options,), daemon=False)
        process.start()
        running.append(process)
        started_at[process.pid] = time.monotonic()

    def stop(_signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for process in running:
            if process.is_alive():
                process.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(workers):
            start()
        while running:
            for sentinel in wait([p.sentinel for p in running], timeout=1.0):
                process = next(p for p in running if p.sentinel == sentinel)
                process.join()
                running.remove(process)
                if on_worker_exit is not None:
                    on_worker_exit(process.pid)
                if stopping:
                    continue
                if process.exitcode > 0 and time.monotonic() - started_at[process.pid] < STARTUP_SECONDS:
                    log.error("worker %s failed to start (exit code %s); stopping", process.pid, process.exitcode)
                    failed = process.exitcode
                    stop(None, None)
                    continue
                log.error("worker %s exited with %s; starting another", process.pid, process.exitcode)
                start()
    finally:
        for process in running:
            process.join(STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
        reserved.close()
    return failed
