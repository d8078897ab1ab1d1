"""The hotline bridge end to end: fake AMI → ``python -m hotline`` → calls in PostgreSQL.

Setup: a fresh database ``zhcg_bench_hotline_<pid>`` on the PostgreSQL of ``make test``
(``ZHCG_BENCH_PG_ADMIN_URL`` to use another; ``ZHCG_BENCH_DB=sqlite`` for a SQLite file instead),
Alembic upgrade, two agents; the fake AMI of the tests (tests/fixtures/fake_ami.py) in this process and
the real bridge, ``python -m hotline``, in a subprocess configured by the environment as in production.

1. Throughput: ``ZHCG_BENCH_CALLS`` (default 4,000) recorded calls — 70 % answered, 20 % abandoned,
   10 % missed, one starting every half second so about two hundred overlap — merged in time order and
   replayed by the fake as fast as it can write. Measured from the first byte until every call is ended
   in the database: AMI events per second (all events on the wire, and those the reducer reads).
2. Latency: ``ZHCG_BENCH_LATENCY_CALLS`` (default 200) more calls replayed at a busy centre's pace
   (``ZHCG_BENCH_LATENCY_RATE``, default 1,000 events/s); for each AgentConnect, the time from the
   fake writing it to the call being visible as connected (answered_at set) to a separate connection
   polling the database every 2 ms.

Targets: ≥ 5,000 events/s (the events the reducer reads, the stricter count) and p95 ≤ 200 ms.
The database is dropped at the end, also on error or SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.calls.events import HANDLED_EVENTS  # noqa: E402
from core.db import build_engine, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import StaffRole, StaffUser  # noqa: E402
from tests.fixtures.fake_ami import (  # noqa: E402
    FakeAmi,
    abandoned_call,
    answered_call,
    missed_call,
    running_fake_ami,
)

BACKEND = os.environ.get("ZHCG_BENCH_DB", "postgresql")
ADMIN_URL = os.environ.get("ZHCG_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = f"zhcg_bench_hotline_{os.getpid()}"
CALLS = int(os.environ.get("ZHCG_BENCH_CALLS", "4000"))
LATENCY_CALLS = int(os.environ.get("ZHCG_BENCH_LATENCY_CALLS", "200"))
LATENCY_RATE = float(os.environ.get("ZHCG_BENCH_LATENCY_RATE", "1000"))
TARGET_EVENTS_PER_S = 5000.0
TARGET_LATENCY_MS = 200.0
AGENTS = ("PJSIP/8001", "PJSIP/8002")


def log(message: str) -> None:
    print(message, flush=True)


def database_url() -> str:
    if BACKEND == "sqlite":
        path = Path(f"/tmp/{DB_NAME}.db")
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')  # type: ignore[arg-type]
        connection.execute(f'CREATE DATABASE "{DB_NAME}"')  # type: ignore[arg-type]
    return ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{DB_NAME}"


def drop_database() -> None:
    if BACKEND == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"/tmp/{DB_NAME}.db{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')  # type: ignore[arg-type]


def calls(count: int, start: float, number_base: int) -> tuple[list[dict[str, str]], list[str]]:
    """``count`` calls, one starting every half second from ``start``, merged in time order."""
    events: list[dict[str, str]] = []
    answered: list[str] = []
    for i in range(count):
        t = start + i * 0.5
        number = f"1{number_base + i:010d}"
        agent = AGENTS[i % len(AGENTS)]
        kind = i % 10
        if kind < 7:
            linkedid, sequence = answered_call(start=t, caller=number, interface=agent, hold_s=5 + i % 20)
            answered.append(linkedid)
        elif kind < 9:
            linkedid, sequence = abandoned_call(start=t, caller=number, interface=agent, hold_s=10 + i % 30)
        else:
            linkedid, sequence = missed_call(start=t, caller=number, interface=agent, timeout_s=30)
        events.extend(sequence)
    events.sort(key=lambda event: float(event["Timestamp"]))
    return events, answered


def start_bridge(url: str, fake: FakeAmi) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHCG_")}
    env.update(fake.environment())
    env.update(
        {
            "ZHCG_ENVIRONMENT": "development",
            "ZHCG_DB__URL": url,
            "ZHCG_APP__LOG_LEVEL": "WARNING",
            "ZHCG_AMI__PING_INTERVAL_S": "5",
            "ZHCG_AMI__PING_TIMEOUT_S": "5",
        }
    )
    return subprocess.Popen([sys.executable, "-m", "hotline"], cwd=ROOT, env=env)


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def throughput(fake: FakeAmi, engine: sa.Engine) -> dict[str, float]:
    events, _ = calls(CALLS, time.time() - 7 * 24 * 3600, 3_800_000_000)
    handled = sum(1 for event in events if event["Event"] in HANDLED_EVENTS)
    count_ended = sa.text("SELECT count(*) FROM call WHERE state = 'ended'")
    with engine.connect() as connection:
        started = time.perf_counter()
        fake.replay(events)
        sent = time.perf_counter() - started

        def done() -> bool:
            count = int(connection.execute(count_ended).scalar_one())
            connection.rollback()  # a fresh snapshot next time (SQLite keeps the transaction's)
            return count >= CALLS

        wait_until(done, 600, "the calls to be stored")
        elapsed = time.perf_counter() - started
        outcomes = dict(
            connection.execute(sa.text("SELECT outcome, count(*) FROM call GROUP BY outcome")).all()
        )
        callbacks = int(connection.execute(sa.text("SELECT count(*) FROM call_task")).scalar_one())
        connection.rollback()
    expected = {"answered": sum(1 for i in range(CALLS) if i % 10 < 7)}
    expected["abandoned"] = sum(1 for i in range(CALLS) if 7 <= i % 10 < 9)
    expected["missed"] = CALLS - expected["answered"] - expected["abandoned"]
    correct = outcomes == expected and callbacks == expected["abandoned"] + expected["missed"]
    log(f"throughput: {len(events):,} AMI events ({handled:,} read by the reducer) of {CALLS:,} calls")
    log(f"  written by the fake in {sent:.2f} s; all calls ended in the database after {elapsed:.2f} s")
    log(f"  outcomes {outcomes}, call-backs {callbacks}: {'as replayed' if correct else 'WRONG'}")
    return {
        "calls": CALLS,
        "events": len(events),
        "handled_events": handled,
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(events) / elapsed),
        "handled_events_per_s": round(handled / elapsed),
        "stored_correctly": correct,
    }


def latency(fake: FakeAmi, engine: sa.Engine) -> dict[str, float]:
    base = time.time()
    events, answered = calls(LATENCY_CALLS, base, 3_900_000_000)
    pending = set(answered)
    seen: dict[str, float] = {}
    stop = threading.Event()
    query = sa.text("SELECT linkedid FROM call WHERE answered_at IS NOT NULL AND started_at >= :since")

    def poll() -> None:
        since = datetime.fromtimestamp(base - 1, UTC)
        with engine.connect() as connection:
            while not stop.is_set() and pending - seen.keys():
                now = time.perf_counter()
                for (linkedid,) in connection.execute(query, {"since": since}):
                    if linkedid not in seen:
                        seen[linkedid] = now
                connection.rollback()
                time.sleep(0.002)

    poller = threading.Thread(target=poll, name="bench-poller")
    poller.start()
    try:
        fake.replay(events, rate=LATENCY_RATE, track="AgentConnect")
        wait_until(lambda: not (pending - seen.keys()), 60, "the probe calls to be connected")
    finally:
        stop.set()
        poller.join(timeout=10)
    samples = sorted(
        (seen[linkedid] - fake.state.sent_at[f"AgentConnect:{linkedid}"]) * 1000 for linkedid in answered
    )
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    result = {
        "samples": len(samples),
        "rate_events_per_s": LATENCY_RATE,
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(samples[-1], 1),
    }
    log(
        f"latency AgentConnect → connected in the database, {len(samples)} calls at {LATENCY_RATE:,.0f} "
        f"events/s: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms"
    )
    return result


def stop_bridge(bridge: subprocess.Popen[bytes]) -> None:
    if bridge.poll() is not None:
        return
    bridge.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        bridge.wait(timeout=15)
    if bridge.poll() is None:
        bridge.kill()
        bridge.wait(timeout=5)


def terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, terminated)
    bridge: subprocess.Popen[bytes] | None = None
    engine: sa.Engine | None = None
    try:
        url = database_url()
        log(f"database {BACKEND} {DB_NAME}; migrating …")
        engine = build_engine(url, pool_size=4)
        upgrade(engine)
        with session_scope(engine) as session:
            for interface in AGENTS:
                session.add(
                    StaffUser(
                        username=f"agent-{interface[-4:]}",
                        display_name=f"坐席{interface[-4:]}",
                        role=StaffRole.OPERATOR,
                        password_hash="x",
                        agent_interface=interface,
                    )
                )
        with running_fake_ami() as fake:
            bridge = start_bridge(url, fake)
            wait_until(
                lambda: fake.logged_in >= 1 and fake.state.actions["queuestatus"] >= 1, 30, "the login"
            )
            time.sleep(0.5)  # the resync is applied
            log(f"python -m hotline logged in to the fake AMI at {fake.host}:{fake.port}")
            measured: dict[str, Any] = {"backend": BACKEND, "throughput": throughput(fake, engine)}
            measured["latency"] = latency(fake, engine)
            if bridge.poll() is not None:
                raise RuntimeError(f"python -m hotline exited with {bridge.returncode}")
            stop_bridge(bridge)  # before the fake goes away
            log(f"python -m hotline stopped on SIGTERM with status {bridge.returncode}")
        rate = measured["throughput"]["handled_events_per_s"]
        p95 = measured["latency"]["p95_ms"]
        ok = (
            rate >= TARGET_EVENTS_PER_S
            and p95 <= TARGET_LATENCY_MS
            and measured["throughput"]["stored_correctly"]
        )
        log(
            f"events/s (read by the reducer) {rate:,} (target ≥ {TARGET_EVENTS_PER_S:,.0f}); "
            f"latency p95 {p95} ms (target ≤ {TARGET_LATENCY_MS:.0f}): {'ok' if ok else 'OVER TARGET'}"
        )
        print(
            json.dumps(
                {
                    "bench": "hotline",
                    "measured": measured,
                    "target": {
                        "handled_events_per_s": TARGET_EVENTS_PER_S,
                        "agent_connect_to_db_p95_ms": TARGET_LATENCY_MS,
                    },
                    "pass": ok,
                },
                ensure_ascii=False,
            )
        )
        return 0 if ok else 1
    finally:
        if bridge is not None:
            stop_bridge(bridge)
        if engine is not None:
            engine.dispose()
        drop_database()


if __name__ == "__main__":
    sys.exit(main())
