"""Benchmark: WeChat Pay notifications verified and applied per second (POST /api/v1/payments/notify/wechat).

Run: .venv/bin/python bench/payments.py

Creates a throw-away PostgreSQL database ``zhcg_bench_payments_<pid>`` (admin URL from
``ZHCG_BENCH_PG_ADMIN_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, trust auth
as in ``make test``), migrates it, and inserts N penalty decisions (``ZHCG_BENCH_NOTIFICATIONS``, default
3,000), each with one pending WeChat Pay order. The local fake WeChat Pay (``payments/sandbox``) knows the
same orders, "pays" them and builds each one's notification — signed with its platform key and
AES-256-GCM encrypted with the APIv3 key, exactly as WeChat Pay sends them — before the clock starts.

The real app is served by ``uvicorn --workers WORKERS`` on a free loopback port, configured as in
production: PostgreSQL, jobs to Redis (``ZHCG_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``,
under a private queue prefix removed at the end — nothing runs them), WeChat Pay keys from the fake's key
files. CLIENTS keep-alive connections (a minimal asyncio HTTP/1.1 client) send the notifications, each
once, as fast as they are answered; the first WARMUP are not timed. Every notification is the whole path:
signature verification, the ±5 min timestamp window, decryption, the dedupe insert, the order and decision
locked and marked paid, the receipt job queued, one commit.

Afterwards the database must show every order paid exactly once, one applied notification per order and
none refused; anything else — or any answer other than 204 — fails the bench. A second, shorter phase
sends DUPLICATES already-applied notifications again (acknowledged, nothing changes) and reports that
rate too (not judged). The database, the queue keys and the server are removed at the end, also on
failure. The last line of output is one JSON object; "pass" needs notifications_per_s ≥ TARGET_PER_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_NOTIFICATIONS = int(os.environ.get("ZHCG_BENCH_NOTIFICATIONS", "3000"))
WARMUP = 200
DUPLICATES = 1000
CLIENTS = 8
RECONNECT_EVERY = 25  # requests per connection (over all connections) before one reconnects
WORKERS = 2
TARGET_PER_S = 300
REQUEST_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 60.0

PG_ADMIN_URL = os.environ.get(
    "ZHCG_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ZHCG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_NAME = f"zhcg_bench_payments_{os.getpid()}"
DB_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
QUEUE_PREFIX = f"zhcgbenchpay{os.getpid()}"
SECRET_KEY = "zhcg-bench-payments-secret-key-not-for-production"  # a throw-away bench database only
NOTIFY_PATH = "/api/v1/payments/notify/wechat"

BASE_ENV = {
    "ZHCG_DB__URL": DB_URL,
    "ZHCG_ENVIRONMENT": "development",
    "ZHCG_APP__LOG_LEVEL": "WARNING",
    "ZHCG_APP__SECRET_KEY": SECRET_KEY,
    "ZHCG_REDIS__URL": REDIS_URL,
    "ZHCG_REDIS__QUEUE_PREFIX": QUEUE_PREFIX,
    "ZHCG_RATELIMIT__ENABLED": "false",  # every request comes from 127.0.0.1
}
for _name in [name for name in os.environ if name.startswith("ZHCG_") and not name.startswith("ZHCG_BENCH_")]:
    del os.environ[_name]
os.environ.update(BASE_ENV)


# ---------------------------------------------------------------- database and queue


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


def drop_queue_keys() -> None:
    from redis import Redis

    connection = Redis.from_url(REDIS_URL)
    for key in [*connection.scan_iter(f"{QUEUE_PREFIX}*"), *connection.scan_iter(f"rq:*{QUEUE_PREFIX}*")]:
        connection.delete(key)


def queued_receipts() -> int:
    from redis import Redis
    from rq import Queue

    return Queue(f"{QUEUE_PREFIX}-payments", connection=Redis.from_url(REDIS_URL)).count


def prepare(out_trade_nos: list[str]) -> None:
    """Schema, then one unpaid decision (200.00, not overdue) with one pending WeChat order each."""
    from core.db import build_engine, session_scope
    from core.kit.clock import to_local, utcnow
    from core.migrate import upgrade
    from core.models import PaymentChannel, PaymentClient, PaymentOrder, PenaltyDecision

    engine = build_engine(DB_URL)
    try:
        upgrade(engine)
        now = utcnow()
        today = to_local(now).date()
        with session_scope(engine) as session:
            decisions = [
                PenaltyDecision(
                    decision_no=f"压测罚决字第{k:08d}号",
                    party_name="压测当事人",
                    amount_fen=20000,
                    decided_on=today,
                    served_on=today,
                    due_on=today + timedelta(days=15),
                )
                for k in range(len(out_trade_nos))
            ]
            session.add_all(decisions)
            session.flush()
            session.add_all(
                PaymentOrder(
                    out_trade_no=out_trade_no,
                    decision_id=decision.id,
                    channel=PaymentChannel.WECHAT,
                    client=PaymentClient.MINIPROGRAM,
                    amount_fen=20000,
                    fine_fen=20000,
                    late_fee_fen=0,
                    payer_ref=f"o-bench-{k}",
                    prepay_ref=f"wx-bench-{k}",
                    expires_at=now + timedelta(hours=2),
                )
                for k, (decision, out_trade_no) in enumerate(zip(decisions, out_trade_nos, strict=True))
            )
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def verify(out_trade_nos: list[str]) -> dict[str, int]:
    """What the database says after the run (every order paid once, one applied notification each)."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from core.db import build_engine, session_scope
    from core.models import (
        FineStatus,
        NotificationVerdict,
        PaymentNotification,
        PaymentOrder,
        PaymentOrderStatus,
        PenaltyDecision,
    )

    engine = build_engine(DB_URL)
    try:
        with session_scope(engine) as session:

            def count(query: Any) -> int:
                return int(session.exec(query).one())

            return {
                "orders_paid": count(
                    select(func.count())
                    .select_from(PaymentOrder)
                    .where(col(PaymentOrder.status) == PaymentOrderStatus.PAID)
                ),
                "decisions_paid": count(
                    select(func.count())
                    .select_from(PenaltyDecision)
                    .where(col(PenaltyDecision.status) == FineStatus.PAID)
                ),
                "applied": count(
                    select(func.count())
                    .select_from(PaymentNotification)
                    .where(col(PaymentNotification.verdict) == NotificationVerdict.APPLIED)
                ),
                "refused": count(
                    select(func.count())
                    .select_from(PaymentNotification)
                    .where(col(PaymentNotification.verdict) == NotificationVerdict.REFUSED)
                ),
                "stored": count(select(func.count()).select_from(PaymentNotification)),
            }
    finally:
        engine.dispose()


# ---------------------------------------------------------------- notifications


@contextlib.contextmanager
def fake_wechatpay() -> Iterator[Any]:
    from payments.sandbox.wechatpay import running_fake_wechatpay

    with running_fake_wechatpay() as fake:
        yield fake


def register_orders(fake: Any, out_trade_nos: list[str]) -> None:
    """The fake gateway learns the orders as if they had been placed (placing 3,000 orders over HTTP is
    not what this bench measures)."""
    from payments.sandbox.wechatpay import FakeOrder

    with fake.state.lock:
        for k, out_trade_no in enumerate(out_trade_nos):
            fake.state.orders[out_trade_no] = FakeOrder(
                out_trade_no=out_trade_no,
                request={
                    "appid": fake.state.app_id,
                    "mchid": fake.state.mch_id,
                    "description": "罚款缴纳",
                    "out_trade_no": out_trade_no,
                    "notify_url": "http://127.0.0.1/unused",
                    "amount": {"total": 20000, "currency": "CNY"},
                    "payer": {"openid": f"o-bench-{k}"},
                },
                prepay_id=f"wx-bench-{k}",
            )


def request_bytes(port: int, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"POST {NOTIFY_PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-length"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def server_env(fake: Any) -> dict[str, str]:
    return {
        **BASE_ENV,
        "ZHCG_WECHATPAY__MCH_ID": fake.state.mch_id,
        "ZHCG_WECHATPAY__APP_ID": fake.state.app_id,
        "ZHCG_WECHATPAY__APIV3_KEY": fake.state.apiv3_key,
        "ZHCG_WECHATPAY__PRIVATE_KEY_PATH": str(fake.merchant_private_key_path),
        "ZHCG_WECHATPAY__CERT_SERIAL_NO": fake.state.cert_serial_no,
        "ZHCG_WECHATPAY__PUBLIC_KEY_PATH": str(fake.platform_public_key_path),
        "ZHCG_WECHATPAY__PUBLIC_KEY_ID": fake.state.public_key_id,
        "ZHCG_WECHATPAY__API_BASE": fake.api_base,
        "ZHCG_WECHATPAY__NOTIFY_URL": f"http://127.0.0.1{NOTIFY_PATH}",
    }


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ZHCG_")}
    env.update(env_extra)
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


def wait_healthy(server: subprocess.Popen[bytes], port: int) -> None:
    import httpx

    deadline = time.perf_counter() + SERVER_START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited with status {server.returncode} before /healthz answered")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
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
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)


# ---------------------------------------------------------------- load


class HttpError(Exception):
    pass


@dataclass
class Phase:
    sent: int = 0
    timed: int = 0
    elapsed_s: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.timed / self.elapsed_s if self.elapsed_s else 0.0


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise HttpError("chunked answers are not expected")
    return status, await reader.readexactly(length) if length else b""


async def _send_all(port: int, requests: list[bytes], warmup: int) -> Phase:
    """Send every request once over CLIENTS keep-alive connections; time those after ``warmup``."""
    phase = Phase()
    queue = iter(enumerate(requests))
    started: list[float] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index, request in queue:
                if index == warmup:
                    started.append(time.perf_counter())
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(
                        _exchange(reader, writer, request), REQUEST_TIMEOUT_S
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError, HttpError) as exc:
                    phase.statuses[type(exc).__name__] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                phase.sent += 1
                phase.statuses[str(status)] += 1
                if phase.sent % RECONNECT_EVERY == 0:
                    # A keep-alive connection stays with the uvicorn worker that accepted it; moving now
                    # and then lets the idler worker take more (16 connections opened at once can all
                    # land on one worker, and the bench would measure one worker's GIL).
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if status >= 300 and len(phase.samples) < 3:
                    phase.samples.append(f"HTTP {status}: {body[:300].decode(errors='replace')}")
                if index >= warmup:
                    phase.timed += 1
                    phase.latencies_s.append(time.perf_counter() - t0)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    phase.elapsed_s = time.perf_counter() - started[0] if started else 0.0
    return phase


def send_all(port: int, requests: list[bytes], warmup: int) -> Phase:
    return asyncio.run(_send_all(port, requests, warmup))


# ---------------------------------------------------------------- CPU accounting


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(child) for child in children)
    return pids


def _postgres_backends() -> list[int]:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DB_NAME,)
        ).fetchall()
    return [int(row[0]) for row in rows]


@dataclass
class CpuMeter:
    """CPU seconds spent during a phase by the server (uvicorn and its workers), by the PostgreSQL
    backends serving its database and by this client: per notification, this is what the 2 cores are
    spent on, and it moves much less than throughput when other work shares the machine."""

    server_pid: int
    start: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        return {
            "server": sum(_proc_cpu_s(pid) for pid in _tree(self.server_pid)),
            "postgres": sum(_proc_cpu_s(pid) for pid in _postgres_backends()),
            "client": time.process_time(),
        }

    def __enter__(self) -> CpuMeter:
        self.start = self._read()
        return self

    def __exit__(self, *_exc: object) -> None:
        end = self._read()
        self.spent = {name: end[name] - self.start[name] for name in end}


def cpu_ms_per(meter: CpuMeter, count: int) -> dict[str, float]:
    return {name: round(seconds * 1e3 / max(count, 1), 2) for name, seconds in meter.spent.items()}


def percentile_ms(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1e3


def report(name: str, phase: Phase) -> None:
    statuses = ", ".join(f"{key} ×{count}" for key, count in sorted(phase.statuses.items()))
    print(
        f"  {name:<22}: {phase.per_s:8.1f} /s   p50 {percentile_ms(phase.latencies_s, 50):6.1f} ms"
        f"   p99 {percentile_ms(phase.latencies_s, 99):6.1f} ms   ({phase.timed:,} timed in"
        f" {phase.elapsed_s:.1f} s; answers: {statuses})"
    )
    for sample in phase.samples:
        print(f"    {sample}", file=sys.stderr)


# ---------------------------------------------------------------- main


def _terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(f"terminated by signal {signum}")  # unwinds through the clean-up below


def main() -> int:
    from redis.exceptions import RedisError

    signal.signal(signal.SIGTERM, _terminated)
    print(
        f"payments bench — PostgreSQL database {DB_NAME}, uvicorn --workers {WORKERS}, "
        f"{CLIENTS} connections, "
        f"{N_NOTIFICATIONS:,} notifications"
    )
    out_trade_nos = [f"FPBENCH{k:09d}{secrets.token_hex(8).upper()}" for k in range(N_NOTIFICATIONS)]
    server: subprocess.Popen[bytes] | None = None
    measured: dict[str, Any] = {}
    passed = False
    try:
        t0 = time.perf_counter()
        create_database()
        prepare(out_trade_nos)
        print(
            f"  database: {N_NOTIFICATIONS:,} decisions with a pending order"
            f" in {time.perf_counter() - t0:.1f} s"
        )
        with fake_wechatpay() as fake:
            register_orders(fake, out_trade_nos)
            port = free_port()
            server = start_server(port, server_env(fake))
            wait_healthy(server, port)
            t0 = time.perf_counter()
            signed = [fake.pay(out_trade_no) for out_trade_no in out_trade_nos]
            requests = [request_bytes(port, sent.headers, sent.body) for sent in signed]
            print(f"  notifications signed and encrypted in {time.perf_counter() - t0:.1f} s")

            healthz = send_all(
                port, [f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()] * 3000, WARMUP
            )
            report("GET /healthz (baseline)", healthz)
            with CpuMeter(server.pid) as meter:
                applied = send_all(port, requests, WARMUP)
            report("notifications applied", applied)
            cpu = cpu_ms_per(meter, applied.sent)
            print(f"  CPU ms per notification: {cpu} (backends of the run's database only)")
            duplicates = send_all(port, requests[:DUPLICATES], 0)
            report("duplicates answered", duplicates)

        state = verify(out_trade_nos)
        receipts = queued_receipts()
        print(f"  database after the run: {state}; receipt jobs queued: {receipts}")
        correct = (
            applied.statuses == Counter({"204": N_NOTIFICATIONS})
            and duplicates.statuses == Counter({"204": min(DUPLICATES, N_NOTIFICATIONS)})
            and state["orders_paid"] == state["decisions_paid"] == state["applied"] == N_NOTIFICATIONS
            and state["refused"] == 0
            and state["stored"] == N_NOTIFICATIONS
            and receipts == N_NOTIFICATIONS
        )
        measured = {
            "notifications_per_s": round(applied.per_s, 1),
            "p50_ms": round(percentile_ms(applied.latencies_s, 50), 1),
            "p99_ms": round(percentile_ms(applied.latencies_s, 99), 1),
            "duplicates_per_s": round(duplicates.per_s, 1),
            "healthz_per_s": round(healthz.per_s, 1),
            "cpu_ms_per_notification": cpu,
            "notifications": N_NOTIFICATIONS,
            "connections": CLIENTS,
            "workers": WORKERS,
            "all_paid_once": correct,
        }
        passed = correct and applied.per_s >= TARGET_PER_S
        if not correct:
            print(
                "  FAILED: the database or the answers are not what the notifications must leave",
                file=sys.stderr,
            )
    finally:
        if server is not None:
            stop_server(server)
        with contextlib.suppress(OSError, RedisError):
            drop_queue_keys()
        drop_database()
    print(
        json.dumps(
            {
                "bench": "payments",
                "measured": measured,
                "target": {"notifications_per_s": TARGET_PER_S},
                "pass": passed,
            },
            ensure_ascii=False,
        )
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
