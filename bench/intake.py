"""Benchmark: citizens' report submissions (POST /api/v1/reports) on PostgreSQL under concurrency.

Run: .venv/bin/python bench/intake.py

Creates a throw-away PostgreSQL database ``zhcg_bench_<pid>`` (admin URL from ``ZHCG_BENCH_PG_ADMIN_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, trust auth as in ``make test``),
migrates it, loads the demo city, creates citizens with bearer tokens, then serves the real app with
``uvicorn --workers 2`` on a free loopback port and drives it with CLIENTS concurrent keep-alive
clients (a minimal asyncio HTTP/1.1 client, in a separate process — see the load section):

  (1) ``GET /healthz`` — the trivial endpoint of the same app, the baseline of this run;
  (2) ``POST /api/v1/reports`` — a random citizen, a random demo unit grid's centroid (WGS-84), a unique
      ``Idempotency-Key`` per request.

Both phases run over the same CLIENTS connections (a closed loop: each client sends its next request
when the previous answer arrived). Each gets WARMUP_S of warm-up (not counted; it also builds each
worker's geo index) and MEASURE_S of measurement; only 2xx answers count, anything else (status or
transport error, warm-up included) is an error and fails the bench. The database and the server are
removed at the end, also on failure. The server's ``ZHCG_*`` environment is the bench's own (inherited
``ZHCG_*`` variables are dropped so a developer's shell cannot change the result). The last line of output
is a single JSON object; "pass" needs ratio ≥ RATIO_MIN, p99 ≤ P99_MAX_MS and no errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLIENTS = 32
WORKERS = 2
N_CITIZENS = 64
WARMUP_S = 3.0
MEASURE_S = 10.0
REQUEST_TIMEOUT_S = 10.0
SERVER_START_TIMEOUT_S = 60.0
RATIO_MIN = 0.4
P99_MAX_MS = 100
SEED = 20261121

PG_ADMIN_URL = os.environ.get(
    "ZHCG_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DB_NAME = f"zhcg_bench_{os.getpid()}"
DB_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
SECRET_KEY = "zhcg-bench-intake-secret-key-not-for-production"  # a throw-away bench database only

CATEGORY = "BJ0110"
DESCRIPTION = "井盖丢失，存在安全隐患（压测）"

# The server's settings; the same values are used in-process (before any core module reads them).
SERVER_ENV = {
    "ZHCG_DB__URL": DB_URL,
    "ZHCG_ENVIRONMENT": "development",
    "ZHCG_APP__LOG_LEVEL": "WARNING",
    # Load, not abuse: a few citizens file thousands of reports in seconds.
    "ZHCG_REWARDS__REPORTS_PER_CITIZEN_PER_HOUR": "1000000",
    "ZHCG_REWARDS__REPORTS_PER_CITIZEN_PER_DAY": "1000000",
    "ZHCG_RATELIMIT__ENABLED": "false",  # every request comes from 127.0.0.1
    "ZHCG_APP__SECRET_KEY": SECRET_KEY,
}
for _name in [name for name in os.environ if name.startswith("ZHCG_") and name != "ZHCG_BENCH_PG_ADMIN_URL"]:
    del os.environ[_name]
os.environ.update(SERVER_ENV)


# ---------------------------------------------------------------- database


def _admin_connect() -> Any:
    import psycopg

    return psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def create_database() -> None:
    with _admin_connect() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    from core.db import dispose_engines

    dispose_engines()
    with _admin_connect() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


@dataclass
class Fixture:
    tokens: list[str]
    points: list[tuple[float, float]]
    demo_s: float


def prepare() -> Fixture:
    """Schema, demo city, citizens and their tokens, unit grid centroids."""
    from sqlmodel import select

    from core.auth.service import token_for
    from core.db import build_engine, session_scope
    from core.demo.load import load_demo
    from core.migrate import upgrade
    from core.models import Citizen, UnitGrid
    from core.settings import Environment, Settings

    settings = Settings(
        environment=Environment.DEVELOPMENT,
        app={"secret_key": SECRET_KEY, "log_level": "WARNING"},
        db={"url": DB_URL},
    )
    engine = build_engine(DB_URL)
    try:
        upgrade(engine)
        t0 = time.perf_counter()
        with (
            tempfile.TemporaryDirectory(prefix="zhcg-bench-intake-") as tmp,
            session_scope(engine) as session,
        ):
            load_demo(session, settings=settings, out_dir=Path(tmp), seed=SEED)
        demo_s = time.perf_counter() - t0
        with session_scope(engine) as session:
            citizens = [Citizen(phone=f"1990000{k:04d}", nickname=f"压测{k}") for k in range(N_CITIZENS)]
            session.add_all(citizens)
            session.flush()
            tokens = [token_for(settings, citizen)[0] for citizen in citizens]
            points = [
                (float(lng), float(lat))
                for lng, lat in session.exec(select(UnitGrid.centroid_lng, UnitGrid.centroid_lat)).all()
            ]
    finally:
        engine.dispose()
    if not points:
        raise RuntimeError("the demo city has no unit grids")
    return Fixture(tokens=tokens, points=points, demo_s=demo_s)


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ZHCG_")}
    env.update(SERVER_ENV)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    # Own process group: the supervisor and its workers can be stopped together, and only them.
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def wait_healthy(server: subprocess.Popen[bytes], base_url: str) -> float:
    import httpx

    t0 = time.perf_counter()
    deadline = t0 + SERVER_START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited with status {server.returncode} before /healthz answered")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return time.perf_counter() - t0
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"/healthz did not answer within {SERVER_START_TIMEOUT_S:.0f} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    # Workers left behind by a killed supervisor (its own process group, started by us).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)


# ---------------------------------------------------------------- load (runs in a child process)
#
# A minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop when available), one connection per
# client. httpx.AsyncClient was tried first: with 32 pooled connections it spends ~3 ms of CPU per
# request on this 2-core machine and capped GET /healthz at ~300-500 req/s — the bench then measured
# the client, not the app. This client costs well under 0.1 ms per request and is the same for both endpoints.


class HttpError(Exception):
    pass


@dataclass
class LoadResult:
    ok: int = 0
    latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    measured_s: float = 0.0
    split: list[int] = field(default_factory=list)  # connections per uvicorn worker, largest first


def _request_factory(
    kind: str, port: int, tokens: list[str], points: list[tuple[float, float]], seed: int
) -> Any:
    rng = random.Random(seed)
    host = f"Host: 127.0.0.1:{port}\r\n"
    if kind == "trivial":
        request = f"GET /healthz HTTP/1.1\r\n{host}\r\n".encode()
        return lambda: request

    def report() -> bytes:
        lng, lat = rng.choice(points)
        body = {"category": CATEGORY, "description": DESCRIPTION, "lng": lng, "lat": lat, "coord": "wgs84"}
        content = json.dumps(body, ensure_ascii=False).encode()
        head = (
            f"POST /api/v1/reports HTTP/1.1\r\n{host}"
            f"Authorization: Bearer {rng.choice(tokens)}\r\n"
            f"Idempotency-Key: {uuid.uuid4().hex}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n\r\n"
        )
        return head.encode() + content

    return report


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise HttpError("response without Content-Length")
    return status, await reader.readexactly(length)


class Connection:
    """One client's keep-alive connection, kept across phases (reopened after an error, or when the
    balancer moves it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.reconnect = False  # set by the balancer: move to (probably) another worker

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reconnect:
            self.reconnect = False
            self.close()
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        return self.streams

    @property
    def client_port(self) -> int | None:
        return None if self.streams is None else int(self.streams[1].get_extra_info("sockname")[1])

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
        self.streams = None


async def _phase(
    connections: list[Connection],
    kind: str,
    tokens: list[str],
    points: list[tuple[float, float]],
    during_warmup: Any = None,
) -> LoadResult:
    result = LoadResult(measured_s=MEASURE_S)
    measure_from = time.perf_counter() + WARMUP_S
    measure_to = measure_from + MEASURE_S
    side_task = None if during_warmup is None else asyncio.create_task(during_warmup(measure_from - 0.5))

    async def client(k: int, connection: Connection) -> None:
        make = _request_factory(kind, connection.port, tokens, points, SEED + k)
        while (start := time.perf_counter()) < measure_to:
            failure = None
            try:
                streams = await asyncio.wait_for(connection.open(), REQUEST_TIMEOUT_S)
                status, body = await asyncio.wait_for(_exchange(*streams, make()), REQUEST_TIMEOUT_S)
                if not 200 <= status < 300:
                    failure = f"HTTP {status}"
                    if len(result.samples) < 3:
                        result.samples.append(f"{failure}: {body[:300].decode(errors='replace')}")
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                TimeoutError,
                HttpError,
            ) as exc:
                failure = type(exc).__name__
                connection.close()
            end = time.perf_counter()
            if failure is not None:
                result.errors[failure] += 1  # warm-up included: any error fails the bench
            elif start >= measure_from and end <= measure_to:
                result.ok += 1
                result.latencies_s.append(end - start)

    # Closed loop: CLIENTS requests always in flight. Throughput counts requests both started and
    # completed inside the window (a bias of at most CLIENTS requests, the same for both endpoints).
    await asyncio.gather(*(client(k, connection) for k, connection in enumerate(connections)))
    if side_task is not None:
        await side_task
    return result


async def _balance(server_pid: int, connections: list[Connection], until: float) -> None:
    """Move connections from busier to idler workers until the split is even (or ``until``).

    uvicorn's workers share one listening socket and a keep-alive connection stays with the worker
    that accepted it; 32 connections opened at once often land 22/10 or even 32/0, and the bench
    then measures one worker's GIL. Under load, a reconnecting client is mostly accepted by the
    less busy worker, so this converges in a few rounds. Without /proc it does nothing.
    """
    while time.perf_counter() < until:
        await asyncio.sleep(0.25)
        workers, owners = connection_owners(server_pid, connections[0].port)
        if not workers:
            return
        by_worker: dict[int, list[Connection]] = {pid: [] for pid in workers}
        for connection in connections:
            owner = owners.get(connection.client_port or -1)
            if owner in by_worker:
                by_worker[owner].append(connection)
        share = -(-len(connections) // len(workers))  # ceil
        surplus = [connection for group in by_worker.values() for connection in group[share:]]
        if not surplus:
            return
        for connection in surplus:
            connection.reconnect = True


async def _drive(
    server_pid: int, port: int, tokens: list[str], points: list[tuple[float, float]]
) -> dict[str, LoadResult]:
    # The same CLIENTS connections serve both phases, balanced over the workers during the first
    # warm-up: the split is then identical for both endpoints.
    connections = [Connection(port) for _ in range(CLIENTS)]

    async def balance(until: float) -> None:
        await _balance(server_pid, connections, until)

    try:
        for connection in connections:
            await asyncio.wait_for(connection.open(), REQUEST_TIMEOUT_S)
        trivial = await _phase(connections, "trivial", [], [], during_warmup=balance)
        trivial.split = connection_split(server_pid, connections)
        report = await _phase(connections, "report", tokens, points)
        report.split = connection_split(server_pid, connections)
        return {"trivial": trivial, "report": report}
    finally:
        for connection in connections:
            connection.close()


def run_load(
    server_pid: int, port: int, tokens: list[str], points: list[tuple[float, float]]
) -> dict[str, LoadResult]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_drive(server_pid, port, tokens, points))


def _tcp_sockets(port: int) -> tuple[set[str], dict[str, int]]:
    """Inodes of the listening sockets on ``port`` and, per established server-side socket inode, the
    client's port (Linux /proc/net/tcp)."""
    listening: set[str] = set()
    established: dict[str, int] = {}
    local_port = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table, encoding="ascii") as lines:
            for line in list(lines)[1:]:
                cols = line.split()
                if not cols[1].endswith(local_port):
                    continue
                if cols[3] == "0A":  # LISTEN
                    listening.add(cols[9])
                elif cols[3] == "01":  # ESTABLISHED
                    established[cols[9]] = int(cols[2].rsplit(":", 1)[1], 16)
    return listening, established


def _children(parent: int) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(proc.name))
    return pids


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def connection_owners(server_pid: int, port: int) -> tuple[list[int], dict[int, int]]:
    """uvicorn's workers (the supervisor's children holding the listening socket) and, per client
    port, the worker holding that connection. ([], {}) without Linux /proc."""
    try:
        listening, established = _tcp_sockets(port)
        workers: list[int] = []
        owners: dict[int, int] = {}
        for pid in _children(server_pid):
            inodes = _socket_inodes(pid)
            if inodes & listening:
                workers.append(pid)
                for inode in inodes & established.keys():
                    owners[established[inode]] = pid
        return workers, owners
    except OSError:
        return [], {}


def connection_split(server_pid: int, connections: list[Connection]) -> list[int]:
    """The bench's connections per uvicorn worker, largest first ([] without /proc)."""
    workers, owners = connection_owners(server_pid, connections[0].port)
    counts = Counter(owners.get(connection.client_port or -1) for connection in connections)
    return sorted((counts.get(pid, 0) for pid in workers), reverse=True)


# ---------------------------------------------------------------- report


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def summarize(name: str, result: LoadResult) -> dict[str, float]:
    latencies = sorted(result.latencies_s)
    rps = result.ok / result.measured_s if result.measured_s else 0.0
    stats = {
        "rps": rps,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1e3,
    }
    errors = ", ".join(f"{key} ×{count}" for key, count in result.errors.most_common()) or "none"
    split = "/".join(map(str, result.split)) or "n/a"
    for sample in result.samples:
        print(f"  {name}: {sample}", file=sys.stderr)
    print(
        f"  {name:<24}: {rps:8.1f} req/s   p50 {stats['p50_ms']:6.1f} ms   p99 {stats['p99_ms']:6.1f} ms"
        f"   max {stats['max_ms']:6.1f} ms   ({result.ok:,} ok in {result.measured_s:.0f} s;"
        f" errors: {errors}; connections per worker: {split})"
    )
    return stats


def _terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(f"terminated by signal {signum}")  # unwinds through the clean-up below


def main() -> int:
    t_start = time.perf_counter()
    signal.signal(signal.SIGTERM, _terminated)
    print(f"intake bench — PostgreSQL database {DB_NAME}, uvicorn --workers {WORKERS}, {CLIENTS} clients")
    server: subprocess.Popen[bytes] | None = None
    measured: dict[str, Any] = {}
    ok = False
    try:
        create_database()
        fixture = prepare()
        print(
            f"  setup: demo city loaded in {fixture.demo_s:.1f} s, {len(fixture.points):,} unit grids,"
            f" {len(fixture.tokens)} citizens with tokens"
        )
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = start_server(port)
        print(f"  server up in {wait_healthy(server, base_url):.1f} s on {base_url}")
        print(f"  load: {WARMUP_S:.0f} s warm-up + {MEASURE_S:.0f} s measured per endpoint")
        # The load generator gets its own process; leaving the block terminates it (also on failure).
        with get_context("spawn").Pool(1) as pool:
            running = pool.apply_async(run_load, (server.pid, port, fixture.tokens, fixture.points))
            results = running.get(timeout=2 * (WARMUP_S + MEASURE_S + REQUEST_TIMEOUT_S) + 30)
        trivial, report = results["trivial"], results["report"]
        t_stats = summarize("GET /healthz", trivial)
        r_stats = summarize("POST /api/v1/reports", report)
        errors = sum(trivial.errors.values()) + sum(report.errors.values())
        ratio = r_stats["rps"] / t_stats["rps"] if t_stats["rps"] else 0.0
        measured = {
            "clients": CLIENTS,
            "trivial_rps": round(t_stats["rps"], 1),
            "report_rps": round(r_stats["rps"], 1),
            "ratio": round(ratio, 3),
            "report_p50_ms": round(r_stats["p50_ms"], 1),
            "report_p99_ms": round(r_stats["p99_ms"], 1),
            "errors": errors,
        }
        ok = errors == 0 and report.ok > 0 and ratio >= RATIO_MIN and r_stats["p99_ms"] <= P99_MAX_MS
        print(
            f"  ratio reports/trivial: {ratio:.3f}   errors: {errors}"
            f"   target: ratio ≥ {RATIO_MIN}, p99 ≤ {P99_MAX_MS} ms, no errors → {'PASS' if ok else 'FAIL'}"
        )
    except Exception as exc:  # the JSON line must still be printed; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        print(f"  bench failed: {type(exc).__name__}: {exc}")
        measured = {"clients": CLIENTS, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if server is not None:
            stop_server(server)
        try:
            drop_database()
        except Exception as exc:
            print(f"  could not drop database {DB_NAME}: {exc}", file=sys.stderr)
    print(f"  total time: {time.perf_counter() - t_start:.0f} s")
    result = {
        "bench": "intake",
        "measured": measured,
        "target": {"ratio_min": RATIO_MIN, "report_p99_ms_max": P99_MAX_MS},
        "pass": ok,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
