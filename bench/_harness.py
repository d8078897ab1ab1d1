"""Shared plumbing of the benches (not a bench itself: ``scripts/bench.sh`` skips ``bench/_*.py``).

- the bench's own ``ZHCG_*`` environment (inherited ``ZHCG_*`` variables are dropped, ``ZHCG_BENCH_*`` kept);
- a throw-away PostgreSQL database and the Redis keys of a private queue prefix;
- subprocesses in their own process groups, stopped together (also their children, e.g. RQ work horses);
- a minimal asyncio HTTP/1.1 keep-alive client (see ``ConnectionPool`` for why not httpx);
- percentiles, ``/proc`` helpers (children, RSS) and the JSON last line every bench prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get(
    "ZHCG_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ZHCG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


# ---------------------------------------------------------------- environment


def use_bench_environment(values: Mapping[str, str]) -> None:
    """Make ``values`` this process's only ``ZHCG_*`` settings (``ZHCG_BENCH_*`` knobs are kept), so a
    developer's shell cannot change what the bench measures. Call before any core module reads them."""
    for name in [
        name for name in os.environ if name.startswith("ZHCG_") and not name.startswith("ZHCG_BENCH_")
    ]:
        del os.environ[name]
    os.environ.update(values)


def child_environment(values: Mapping[str, str]) -> dict[str, str]:
    """The environment of a subprocess: this one without any ``ZHCG_*`` variable, plus ``values``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ZHCG_")}
    env.update(values)
    return env


def raise_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, through every ``finally`` (processes stopped, database dropped)."""

    def terminated(signum: int, _frame: Any) -> NoReturn:
        raise SystemExit(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, terminated)


def print_last_line(bench: str, measured: Mapping[str, Any], target: Mapping[str, Any], passed: bool) -> None:
    """The one JSON object ``scripts/bench.sh`` reads from the last line of a bench's output."""
    line = {"bench": bench, "measured": dict(measured), "target": dict(target), "pass": passed}
    print(json.dumps(line, ensure_ascii=False), flush=True)


# ---------------------------------------------------------------- PostgreSQL and Redis


class BenchDatabase:
    """A database on the PostgreSQL of ``make test`` (trust auth), created fresh and dropped at the end."""

    def __init__(self, name: str, admin_url: str = PG_ADMIN_URL) -> None:
        self.name = name
        self.admin_url = admin_url
        self.url = admin_url.rsplit("/", 1)[0] + f"/{name}"

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )

    def create(self) -> None:
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with contextlib.suppress(ImportError):
            from core.db import dispose_engines

            dispose_engines()
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def drop_redis_keys(redis_url: str, prefix: str) -> int:
    """Delete every key of the queue prefix: the queues, registries, cron slots, and the RQ job hashes
    of the jobs those queues and registries name (job ids are random, not prefixed). Returns the count."""
    from redis import Redis

    connection = Redis.from_url(redis_url)
    ours = [key for key in connection.scan_iter(match="*", count=1000) if prefix.encode() in key]
    members: list[bytes] = []
    for key in ours:
        kind = connection.type(key)
        if kind == b"list":
            members += connection.lrange(key, 0, -1)
        elif kind == b"zset":
            members += connection.zrange(key, 0, -1)
    job_ids = {member.split(b":")[0] for member in members}  # started jobs are "<job id>:<execution id>"
    job_keys = [  # rq:job:<id>, rq:results:<id>, rq:job:<id>:dependents …
        key for key in connection.scan_iter(match="rq:*", count=1000) if job_ids & set(key.split(b":"))
    ]
    doomed = list(dict.fromkeys([*ours, *job_keys]))
    for start in range(0, len(doomed), 500):
        connection.delete(*doomed[start : start + 500])
    return len(doomed)


def wechatpay_env(fake: Any, notify_path: str) -> dict[str, str]:
    """The ``ZHCG_WECHATPAY__*`` settings that point the app at a running ``payments.sandbox`` fake."""
    return {
        "ZHCG_WECHATPAY__MCH_ID": fake.state.mch_id,
        "ZHCG_WECHATPAY__APP_ID": fake.state.app_id,
        "ZHCG_WECHATPAY__APIV3_KEY": fake.state.apiv3_key,
        "ZHCG_WECHATPAY__PRIVATE_KEY_PATH": str(fake.merchant_private_key_path),
        "ZHCG_WECHATPAY__CERT_SERIAL_NO": fake.state.cert_serial_no,
        "ZHCG_WECHATPAY__PUBLIC_KEY_PATH": str(fake.platform_public_key_path),
        "ZHCG_WECHATPAY__PUBLIC_KEY_ID": fake.state.public_key_id,
        "ZHCG_WECHATPAY__API_BASE": fake.api_base,
        "ZHCG_WECHATPAY__NOTIFY_URL": f"http://127.0.0.1{notify_path}",
    }


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Subprocesses started by the bench, each in its own process group (its children go with it)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path | None = None
    ) -> subprocess.Popen[bytes]:
        output: Any = subprocess.DEVNULL
        if log_path is not None:
            output = log_path.open("ab")
        try:
            process = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env=dict(env),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log_path is not None:
                output.close()  # the child holds its own descriptor
        self.started.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with status {process.returncode}")

    def stop_all(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to every group (uvicorn and RQ shut down warm), then SIGKILL what is left."""
        for _name, process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for _name, process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _name, process in self.started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.started.clear()


def wait_healthy(process: subprocess.Popen[bytes], base_url: str, timeout_s: float = 60.0) -> float:
    """Seconds until ``GET /healthz`` answers 200; raises if the server exits or does not answer in time."""
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before /healthz answered")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return time.perf_counter() - t0
        time.sleep(0.1)
    raise RuntimeError(f"/healthz did not answer within {timeout_s:.0f} s")


def children(parent: int) -> list[int]:
    """Direct children of a process (Linux /proc; [] elsewhere)."""
    pids = []
    with contextlib.suppress(OSError):
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                        pids.append(int(proc.name))
    return sorted(pids)


def cmdline(pid: int) -> str:
    """A process's command line, arguments joined by spaces ("" when unknown or gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    return ""


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process in KiB (Linux /proc; None when unknown or gone)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


class RssWatch:
    """Samples the RSS of ``pids()`` every second in a thread: {pid: [(monotonic s, KiB)]}."""

    def __init__(self, pids: Callable[[], list[int]], every_s: float = 1.0) -> None:
        self.pids = pids
        self.every_s = every_s
        self.samples: dict[int, list[tuple[float, int]]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for pid in self.pids():
                kib = rss_kib(pid)
                if kib is not None:
                    self.samples[pid].append((time.monotonic(), kib))

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def between(self, start: float, end: float) -> dict[int, tuple[int, int, int]]:
        """Per process sampled in [start, end] (monotonic): (first KiB, last KiB, max KiB) in that window."""
        window = {}
        for pid, samples in self.samples.items():
            inside = [kib for at, kib in samples if start <= at <= end]
            if inside:
                window[pid] = (inside[0], inside[-1], max(inside))
        return window


# ---------------------------------------------------------------- RQ queues


class JobQueues:
    """The RQ queues of one prefix (``core.jobs.JOBS`` names them): backlog, drain, failed jobs."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        from redis import Redis
        from rq import Queue

        from core.jobs import JOBS

        connection = Redis.from_url(redis_url)
        names = sorted({f"{prefix}-{spec.queue}" for spec in JOBS.values()})
        self.queues = [Queue(name, connection=connection) for name in names]

    def backlog(self) -> int:
        """Jobs queued, running, or waiting for a retry."""
        from rq.registry import ScheduledJobRegistry, StartedJobRegistry

        waiting = 0
        for queue in self.queues:
            waiting += queue.count + StartedJobRegistry(queue=queue).count
            waiting += ScheduledJobRegistry(queue=queue).count  # type: ignore[no-untyped-call]
        return waiting

    def drain(self, timeout_s: float, report: Callable[[str], None] = print) -> bool:
        """Wait until the backlog has been 0 for 2 s (cron jobs come and go); False on time-out."""
        t0 = last_report = time.monotonic()
        quiet_since = None
        while time.monotonic() - t0 < timeout_s:
            backlog = self.backlog()
            now = time.monotonic()
            if backlog:
                quiet_since = None
                if now - last_report >= 15:
                    report(f"  … {backlog} jobs left after {now - t0:.0f} s")
                    last_report = now
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 2.0:
                return True
            time.sleep(0.5)
        return False

    def failed(self, report: Callable[[str], None] = print) -> dict[str, int]:
        """Failed jobs per queue (only queues with some); the last line of a few tracebacks is reported."""
        from rq.registry import FailedJobRegistry

        failed = {}
        for queue in self.queues:
            registry = FailedJobRegistry(queue=queue)
            if registry.count:
                failed[queue.name] = registry.count
            for job_id in registry.get_job_ids()[:3]:
                job = queue.fetch_job(job_id)
                result = job.latest_result() if job else None
                trace = ((result.exc_string if result else "") or "").strip().splitlines()[-1:]
                report(f"  ! failed job {queue.name} {job.func_name if job else job_id}: {trace}")
        return failed


# ---------------------------------------------------------------- statistics


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when empty)."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# ---------------------------------------------------------------- HTTP client
#
# httpx.AsyncClient costs ~3 ms of client CPU per request on this 2-core machine (docs/benchmarks.md,
# bench/intake.py): the load generator would take a core from the server it measures. This client
# speaks just enough HTTP/1.1 (keep-alive, Content-Length or chunked answers) for well under 0.1 ms.


class HttpError(Exception):
    """The server's answer is not HTTP/1.1 this client understands."""


TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, HttpError)


def http_request(
    method: str, target: str, port: int, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one HTTP/1.1 request (``target``: path and query, already encoded)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [
        f"{name}: {value}" for name, value in (headers or {}).items() if name.lower() != "content-length"
    ]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def multipart(field: str, filename: str, content_type: str, data: bytes) -> tuple[str, bytes]:
    """A multipart/form-data body with one file part: (Content-Type header value, body)."""
    boundary = f"zhcgbench{os.urandom(12).hex()}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return f"multipart/form-data; boundary={boundary}", head + data + f"\r\n--{boundary}--\r\n".encode()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep the connection) of one answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise HttpError("not an HTTP/1.x answer")
    status = int(head[9:12])
    length = 0
    chunked = False
    keep = head.startswith(b"HTTP/1.1")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if not chunked:
        return status, await reader.readexactly(length) if length else b"", keep
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers expected
            return status, b"".join(parts), keep
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = 0
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.writer.close()


class ConnectionPool:
    """Up to ``size`` keep-alive connections to one loopback port, opened on demand.

    A request waits for a free connection when all are busy (the caller's clock keeps running). A
    connection is closed after ``recycle_after`` requests: a keep-alive connection stays with the
    uvicorn worker that accepted it, and reconnecting now and then lets the idler worker take more, as
    connections of real clients and proxies come and go. A connection idle for ``max_idle_s`` is not
    reused: uvicorn closes idle ones after 5 s (``--timeout-keep-alive``), and a request sent just as
    the server closes its connection would fail in the client, not in the server.
    """

    def __init__(self, port: int, size: int, recycle_after: int = 100, max_idle_s: float = 2.0) -> None:
        self.port = port
        self.recycle_after = recycle_after
        self.max_idle_s = max_idle_s
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []
        self.opened = 0

    async def request(self, data: bytes, timeout_s: float) -> tuple[int, bytes]:
        """Send one request and read its answer within ``timeout_s`` (waiting for a slot included);
        raises one of ``TRANSPORT_ERRORS``."""
        async with asyncio.timeout(timeout_s), self._slots:
            stale_before = time.monotonic() - self.max_idle_s
            while self._idle and self._idle[0].idle_since < stale_before:  # oldest first
                self._idle.pop(0).close()
            connection = self._idle.pop() if self._idle else None
            try:
                if connection is None:
                    connection = _Connection(*await asyncio.open_connection("127.0.0.1", self.port))
                    self.opened += 1
                connection.writer.write(data)
                status, body, keep = await _read_answer(connection.reader)
            except BaseException:
                if connection is not None:
                    connection.close()
                raise
            connection.used += 1
            if keep and connection.used < self.recycle_after:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return status, body

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
