"""What the HTTP benches share: wrk sending prepared POST bodies, and CPU accounting from /proc.

wrk (Debian's package: `apt-get install -y wrk`) is a C load generator: at 16 connections it costs a
fraction of the CPU an asyncio/httpx client does on the same cores, so the server, not the client, is
what is measured. It cannot send a GraphQL query as GET (the server refuses queries over GET), so a
generated Lua script gives each request its body:

- `once`: every body is sent exactly once across all of wrk's threads and connections (thread i of T
  takes lines i, i+T, i+2T… of the bodies file; its connections take the next one of those), then the
  thread stops. For checkouts, where each body pays one order with its own idempotency key.
- `cycle`: the bodies are sent round and round for the whole duration (reads).

A response counts as an error when its status is not 200 or its body holds a non-empty `errors` list
(`"errors":[{`), which is both GraphQL's top-level errors and a mutation payload's coded errors; an
empty payload list (`"errors":[]`) is fine. Once its bodies are used up a connection still waiting for
its thread to finish sends GET /health, which is recognised and not counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

INSTALL_HINT = "wrk not found: install it with `apt-get install -y wrk` (Debian); falling back to the httpx clients"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

LUA = r"""
local threads, count = {}, 0

function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[3])
  mode, api = args[2], args[4]
  local mine, i = {}, 0
  for line in io.lines(path) do
    if i % nthreads == tid then mine[#mine + 1] = line end
    i = i + 1
  end
  wrk.headers["Content-Type"] = "application/json"
  prepared = {}
  for k, body in ipairs(mine) do prepared[k] = wrk.format("POST", api, nil, body) end
  filler = wrk.format("GET", "/health")
  nxt, answered, errors, fillers, sample = 1, 0, 0, 0, ""
  verifying = tid == 0
end

function request()
  if verifying then
    -- wrk calls the first thread's request() once, before any connection, to check what it
    -- returns; a body handed out then would never be sent.
    verifying = false
    return filler
  end
  if nxt > #prepared then
    if mode == "cycle" and #prepared > 0 then
      nxt = 1
    else
      return filler
    end
  end
  local r = prepared[nxt]
  nxt = nxt + 1
  return r
end

function response(status, headers, body)
  if status == 200 and body == '{"status":"ok"}' then
    fillers = fillers + 1
  else
    answered = answered + 1
    if status ~= 200 or string.find(body, '"errors":[{', 1, true) then
      errors = errors + 1
      if sample == "" then sample = status .. " " .. string.sub(body, 1, 400) end
    end
  end
  if mode == "once" and answered >= #prepared and not stopped then
    -- wrk itself runs for its whole -d even once every thread has stopped: tell the bench,
    -- which interrupts it (SIGINT ends wrk's wait and prints its summary).
    stopped = true
    io.write("WRKSTOP\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local answered, errors, fillers = 0, 0, 0
  for _, t in ipairs(threads) do
    answered = answered + t:get("answered")
    errors = errors + t:get("errors")
    fillers = fillers + t:get("fillers")
    local s = t:get("sample")
    if s ~= "" then io.write("WRKSAMPLE " .. string.gsub(s, "\n", " ") .. "\n") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"duration_us": %d, "answered": %d, "errors": %d, "fillers": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.duration, answered, errors, fillers, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass
class WrkRun:
    seconds: float
    answered: int  # responses to the prepared bodies (not /health fillers)
    errors: int  # of those, non-200 or with a non-empty `errors` list
    socket_errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    cpu_seconds: float  # wrk's own user + system time
    samples: list[str]

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


def run_wrk(base_url: str, path: str, bodies: list[str], *, headers: dict[str, str], connections: int, seconds: float,
            mode: str = "once", threads: int | None = None) -> WrkRun:
    """wrk against `base_url` + `path` with these POST bodies (one line each: no newline inside)."""
    threads = threads or max(1, min(2, connections, len(bodies)))
    folder = Path(tempfile.mkdtemp(prefix="meiye-wrk-"))
    try:
        script, data = folder / "bodies.lua", folder / "bodies.txt"
        script.write_text(LUA)
        if any("\n" in b for b in bodies):
            raise ValueError("a wrk body must be one line")
        data.write_text("\n".join(bodies) + "\n")
        args = [wrk_path() or "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
                "-s", str(script)]
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        args += [base_url, "--", str(data), mode, str(threads), path]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        lines, stopped = [], 0
        for line in process.stdout:
            lines.append(line)
            if line.startswith("WRKSTOP"):
                stopped += 1
                if stopped == threads:
                    process.send_signal(signal.SIGINT)
        out = "".join(lines)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    line = next((l for l in out.splitlines() if l.startswith("WRKJSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{out}")
    r = json.loads(line[len("WRKJSON "):])
    return WrkRun(
        seconds=r["duration_us"] / 1e6, answered=r["answered"], errors=r["errors"], socket_errors=r["socket_errors"],
        p50_ms=r["p50_us"] / 1000, p99_ms=r["p99_us"] / 1000, mean_ms=r["mean_us"] / 1000, cpu_seconds=usage.ru_utime + usage.ru_stime,
        samples=[l[len("WRKSAMPLE "):] for l in out.splitlines() if l.startswith("WRKSAMPLE ")],
    )


def own_cpu() -> float:
    """This process's user + system seconds (an in-process load generator's cost)."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


# --- CPU of other processes, from /proc ---------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_postgres(pid: int) -> bool:
    """Whether this pid here is a PostgreSQL process (and not a namesake pid of a remote server)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("postgres")
    except OSError:
        return False


def process_tree(root: int) -> dict[int, float]:
    """CPU seconds of `root` and every live descendant (uvicorn's workers)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (s := _stat(int(entry))) is not None:
            stats[int(entry)] = s
    tree, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in stats and pid not in tree:
            tree[pid] = stats[pid][1]
            frontier += [p for p, (ppid, _) in stats.items() if ppid == pid]
    return tree


class TreeCpu:
    """CPU a process tree spends between start() and stop(); processes gone meanwhile are lost."""

    def __init__(self, root: int) -> None:
        self.root = root

    def start(self) -> TreeCpu:
        self.before = process_tree(self.root)
        return self

    def stop(self) -> float:
        after = process_tree(self.root)
        # uvicorn's workers are multiprocessing children of the supervisor; with one worker the
        # server is the root process itself.
        self.workers = sum(1 for pid in after if b"spawn_main" in _cmdline(pid)) or 1
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in after.items())


class BackendCpu:
    """CPU the PostgreSQL backends serving one database spend meanwhile (PostgreSQL on this machine):
    their pids sampled from pg_stat_activity every 100 ms and read from /proc; a backend that
    connects and exits between two samples is missed, so the figure is a lower bound."""

    def __init__(self, connect) -> None:
        self.connect = connect  # async () -> asyncpg connection
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.available = True

    async def _pids(self) -> list[int]:
        rows = await self.conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [r[0] for r in rows]

    def _read(self, pids: list[int], *, new: bool) -> None:
        for pid in pids:
            s = _stat(pid) if _is_postgres(pid) else None
            if s is None:
                continue
            self.first.setdefault(pid, 0.0 if new else s[1])
            self.last[pid] = s[1]

    async def __aenter__(self) -> BackendCpu:
        self.conn = await self.connect()
        pids = await self._pids()
        self.available = any(_is_postgres(p) for p in pids) or not pids
        self._read(pids, new=False)
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self._read(await self._pids(), new=True)

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        self._read(await self._pids(), new=True)
        await self.conn.close()

    @property
    def seconds(self) -> float | None:
        if not self.available:
            return None
        return sum(self.last[p] - self.first[p] for p in self.last)


def per_request(seconds: float | None, n: int) -> str:
    return "n/a" if seconds is None or not n else f"{seconds * 1000 / n:.2f} ms"


# Setting up a bench through the API: the data of a query, or a mutation's payload, that must not fail.


async def gql(http: httpx.AsyncClient, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}},
                               headers={"authorization": f"Bearer {token}"} if token else {})
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


async def mutate(http, query: str, variables: dict, token: str, field: str) -> dict:
    payload = (await gql(http, query, variables, token))[field]
    if payload["errors"]:
        raise RuntimeError(f"{field}: {payload['errors']}")
    return payload
