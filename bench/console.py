"""Console pages over 1,000,000 cases on PostgreSQL: queue pages and a one-month evaluation.

Setup: a fresh database ``zhcg_bench_console_<pid>`` on the PostgreSQL of ``make test``
(``ZHCG_BENCH_PG_ADMIN_URL`` to use another), Alembic upgrade, the demo city, then ``ZHCG_BENCH_CASES``
(default 1,000,000) cases generated in SQL (``generate_series``) spread over the last 24 months with a
realistic mix of channels, states and overdue marks, and their history events (report, register,
dispatch, handle, check/close, void), inserted in time order as intake writes them. ``ANALYZE``
afterwards, as autovacuum would.

Measure: the real site in a uvicorn subprocess (one worker); a dispatcher and a leader sign in through
the console's form; each page is requested sequentially (warm-up first) and its latency measured from a
client on the same machine. "Server time" is that latency minus the median latency of ``/healthz`` in
the same run (the client and HTTP overhead). Targets: queue page ≤ 150 ms, one-month evaluation ≤ 1 s.
The database is dropped at the end, also on error or SIGTERM.

To iterate on the queries without regenerating: ``ZHCG_BENCH_KEEP_DB=<name>`` uses the database
``<name>`` instead. If it exists it is reused: migrated to the current head (new indexes are built on
the existing rows), but no demo city and no generation (the earlier run's cases are kept and
``ZHCG_BENCH_CASES`` is ignored); if not it is created and generated once (a failed generation drops it).
Either way it is kept at the end; drop it by hand when done
(``DROP DATABASE "<name>" WITH (FORCE)``). Unset (the default): a fresh database, dropped at the end.
Note that a reused database has the dates of the run that generated it, so "last month" drifts as
time passes; regenerate (drop it) to measure a new baseline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = int(os.environ.get("ZHCG_BENCH_CASES", "1000000"))
ADMIN_URL = os.environ.get("ZHCG_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KEEP_DB = os.environ.get("ZHCG_BENCH_KEEP_DB", "").strip()
DB_NAME = KEEP_DB or f"zhcg_bench_console_{os.getpid()}"
DB_URL = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{DB_NAME}"
REPEAT = int(os.environ.get("ZHCG_BENCH_REPEAT", "20"))
TARGET_QUEUE_MS = 150.0
TARGET_EVALUATION_MS = 1000.0
PASSWORD = "zhcg-demo-2026"

# The pages measured: (name, path, account). Paths relative to the site root.
PAGES: list[tuple[str, str, str]] = [
    ("queue_to_dispatch", "/admin/cases?queue=to-dispatch", "dispatcher"),
    ("queue_overdue", "/admin/cases?queue=overdue", "dispatcher"),
    ("queue_all_text", "/admin/cases?queue=all&q=%E4%BA%95%E7%9B%96", "dispatcher"),
    ("evaluation_month_area", "/admin/evaluation?dimension=street&period=last_month", "leader"),
    ("evaluation_month_department", "/admin/evaluation?dimension=department&period=last_month", "leader"),
    # The summary tiles and hot-spot views load beside the table (htmx); measured on their own, same target.
    ("evaluation_month_hot_spots", "/admin/evaluation/hot-spots?period=last_month", "leader"),
    ("evaluation_month_summary", "/admin/evaluation/summary?period=last_month", "leader"),
]


def log(message: str) -> None:
    print(message, flush=True)


def admin_connect() -> psycopg.Connection[Any]:
    return psycopg.connect(ADMIN_URL, autocommit=True)


def create_database() -> None:
    with admin_connect() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')  # type: ignore[arg-type]
        connection.execute(f'CREATE DATABASE "{DB_NAME}"')  # type: ignore[arg-type]


def database_exists() -> bool:
    with admin_connect() as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
    return found is not None


def drop_database(*, force: bool = False) -> None:
    if KEEP_DB and not force:
        log(f"kept {DB_NAME} (ZHCG_BENCH_KEEP_DB)")
        return
    with contextlib.suppress(Exception), admin_connect() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')  # type: ignore[arg-type]


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHCG_")}
    env.update(
        {
            "ZHCG_ENVIRONMENT": "development",
            "ZHCG_DB__URL": DB_URL,
            "ZHCG_DB__POOL_SIZE": "10",
            "ZHCG_APP__LOG_LEVEL": "WARNING",
            "ZHCG_STORAGE__LOCAL_DIR": f"/tmp/{DB_NAME}-photos",
        }
    )
    return env


def prepare(*, demo: bool = True) -> None:
    env = environment()
    zhcg = [sys.executable, "-m", "core.cli.main"]
    subprocess.run([*zhcg, "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    if demo:
        subprocess.run([*zhcg, "demo"], cwd=ROOT, env=env, check=True, capture_output=True)


# Generated in the database: random but reproducible (setseed), no Python loop over rows.
GENERATE_CASES = """
SELECT setseed(0.42);
CREATE TEMP TABLE g_grid AS
  SELECT row_number() OVER (ORDER BY u.code) - 1 AS i, u.code, a.code AS community_code,
         u.responsibility_grid_id, u.centroid_lng AS lng, u.centroid_lat AS lat
  FROM unit_grid u JOIN admin_area a ON a.id = u.community_id;
CREATE TEMP TABLE g_cat AS
  SELECT row_number() OVER (ORDER BY c.code) - 1 AS i, c.id,
         (SELECT r.department_id FROM routing_rule r WHERE r.category_id = c.id ORDER BY r.id LIMIT 1) AS dept
  FROM category c WHERE c.level = 'minor';
CREATE TEMP TABLE g_case AS
SELECT n,
       now() - (random() * interval '730 days') AS created,
       (random() * 100)::int AS state_roll,
       (random() * 100)::int AS channel_roll,
       (n::bigint * 7919) % (SELECT count(*) FROM g_grid) AS grid_i,
       (n::bigint * 104729) % (SELECT count(*) FROM g_cat) AS cat_i,
       random() < 0.12 AS late
FROM generate_series(1, {cases}) AS n;

INSERT INTO "case" (created_at, updated_at, case_no, channel, status, priority, reporter_name, reporter_phone,
  is_public, is_anonymous, category_id, description, address, lng, lat, unit_grid_code, community_code,
  street_code, district_code, responsibility_grid_code, department_id, register_due_at, dispatch_due_at,
  handle_due_at, check_due_at, overdue,
  overdue_stages, urge_count, accepted_at, registered_at, dispatched_at, handled_at, closed_at,
  rating_comment, reply, version)
SELECT c.created, c.created,
  'B' || to_char(c.created, 'YYYYMMDD') || lpad(c.n::text, 8, '0'),
  CASE WHEN c.channel_roll < 35 THEN 'supervisor' WHEN c.channel_roll < 70 THEN 'miniprogram'
       WHEN c.channel_roll < 85 THEN 'hotline' WHEN c.channel_roll < 95 THEN 'app' ELSE 'gov12345' END,
  CASE WHEN c.state_roll < 62 THEN 'closed' WHEN c.state_roll < 70 THEN 'voided'
       WHEN c.state_roll < 78 THEN 'dispatched' WHEN c.state_roll < 82 THEN 'handled'
       WHEN c.state_roll < 86 THEN 'registered' WHEN c.state_roll < 90 THEN 'accepted'
       WHEN c.state_roll < 94 THEN 'pending' WHEN c.state_roll < 97 THEN 'checking' ELSE 'suspended' END,
  'normal', '', '', true, false, cat.id,
  CASE WHEN c.n % 50 = 0 THEN '井盖缺失，存在安全隐患' ELSE '路边垃圾堆放，影响市容' END,
  '演示路 ' || (c.n % 500) || ' 号', g.lng, g.lat, g.code, g.community_code,
  substr(g.community_code, 1, 9), substr(g.community_code, 1, 6), rg.code,
  CASE WHEN c.state_roll < 62 OR (c.state_roll >= 70 AND c.state_roll < 82) OR c.state_roll >= 94
       THEN cat.dept END,
  c.created + interval '1 hour',
  c.created + interval '90 minutes',
  c.created + interval '3 days',
  c.created + CASE WHEN c.late THEN interval '5 days 4 hours' ELSE interval '1 day 4 hours' END,
  c.late AND c.state_roll >= 70 AND c.state_roll < 97 AND c.state_roll NOT BETWEEN 86 AND 93,
  CASE WHEN c.late THEN 'handle' ELSE '' END,
  0,
  c.created + interval '10 minutes',
  CASE WHEN c.state_roll < 62 OR (c.state_roll >= 70 AND c.state_roll < 86) OR c.state_roll >= 94
       THEN c.created + interval '40 minutes' END,
  CASE WHEN c.state_roll < 62 OR (c.state_roll >= 70 AND c.state_roll < 82) OR c.state_roll >= 94
       THEN c.created + interval '1 hour' END,
  CASE WHEN c.state_roll < 62 OR (c.state_roll >= 78 AND c.state_roll < 82) OR c.state_roll >= 94
       THEN c.created + CASE WHEN c.late THEN interval '5 days' ELSE interval '1 day' END END,
  CASE WHEN c.state_roll < 62
       THEN c.created + CASE WHEN c.late THEN interval '6 days' ELSE interval '2 days' END END,
  '', '', 1
FROM g_case c
JOIN g_grid g ON g.i = c.grid_i
JOIN g_cat cat ON cat.i = c.cat_i
LEFT JOIN responsibility_grid rg ON rg.id = g.responsibility_grid_id
ORDER BY c.created;
"""

GENERATE_EVENTS = """
INSERT INTO case_event (case_id, actor_kind, actor_id, actor_role, action, from_status, to_status, note,
  department_id, created_at)
SELECT id, 'citizen', NULL, '', 'report', NULL, 'pending', '', NULL, created_at FROM "case"
ORDER BY created_at;
INSERT INTO case_event (case_id, actor_kind, actor_id, actor_role, action, from_status, to_status, note,
  department_id, created_at)
SELECT id, 'staff', {operator}, 'operator', 'register', 'accepted', 'registered', '', NULL, registered_at
FROM "case" WHERE registered_at IS NOT NULL ORDER BY registered_at;
INSERT INTO case_event (case_id, actor_kind, actor_id, actor_role, action, from_status, to_status, note,
  department_id, created_at)
SELECT id, 'staff', {dispatcher}, 'dispatcher', 'dispatch', 'registered', 'dispatched', '', department_id,
  dispatched_at
FROM "case" WHERE dispatched_at IS NOT NULL ORDER BY dispatched_at;
INSERT INTO case_event (case_id, actor_kind, actor_id, actor_role, action, from_status, to_status, note,
  department_id, created_at)
SELECT id, 'staff', {handler}, 'handler', 'handle', 'dispatched', 'handled', '', department_id, handled_at
FROM "case" WHERE handled_at IS NOT NULL ORDER BY handled_at;
INSERT INTO case_event (case_id, actor_kind, actor_id, actor_role, action, from_status, to_status, note,
  department_id, created_at)
SELECT id, 'staff', {supervisor}, 'supervisor', 'check', 'checking', 'closed', '', department_id, closed_at
FROM "case" WHERE closed_at IS NOT NULL ORDER BY closed_at;
INSERT INTO case_event (case_id, actor_kind, actor_id, actor_role, action, from_status, to_status, note,
  department_id, created_at)
SELECT id, 'staff', {operator}, 'operator', 'void', 'pending', 'voided', '不属实', NULL,
  created_at + interval '30 minutes'
FROM "case" WHERE status = 'voided' ORDER BY created_at;
"""


def _run(connection: psycopg.Connection[Any], script: str) -> None:
    for statement in filter(None, (part.strip() for part in script.split(";\n"))):
        connection.execute(statement)  # type: ignore[arg-type]


def generate(connection: psycopg.Connection[Any]) -> dict[str, float]:
    started = time.perf_counter()
    _run(connection, GENERATE_CASES.format(cases=int(CASES)))
    cases_s = time.perf_counter() - started
    staff = dict(connection.execute("SELECT role, min(id) FROM staff_user GROUP BY role").fetchall())
    started = time.perf_counter()
    ids = {role: int(staff.get(role) or 0) for role in ("operator", "dispatcher", "handler", "supervisor")}
    _run(connection, GENERATE_EVENTS.format(**ids))
    events_s = time.perf_counter() - started
    started = time.perf_counter()
    connection.execute("ANALYZE")
    return {
        "cases_s": round(cases_s, 1),
        "events_s": round(events_s, 1),
        "analyze_s": round(time.perf_counter() - started, 1),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "core.cli.serve:build_site",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=environment(),
    )


def wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the server did not come up")


def signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    client.get("/admin/login")
    answer = client.post(
        "/admin/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": client.cookies.get("zhcg_login_csrf", ""),
        },
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {username} failed: {answer.status_code}")
    return client


def timed(client: httpx.Client, path: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    answer = client.get(path)
    return (time.perf_counter() - started) * 1000, answer.status_code, len(answer.content)


def measure(client: httpx.Client, path: str) -> dict[str, float]:
    for _ in range(3):  # warm-up: connection pools, caches, PostgreSQL's buffer cache
        timed(client, path)
    samples, statuses, size = [], set(), 0
    for _ in range(REPEAT):
        ms, status, size = timed(client, path)
        samples.append(ms)
        statuses.add(status)
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[min(len(samples) - 1, int(0.95 * len(samples)))],
        "bytes": float(size),
        "status": float(max(statuses)),
    }


def terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, terminated)
    server: subprocess.Popen[bytes] | None = None
    try:
        reuse = bool(KEEP_DB) and database_exists()
        if reuse:
            log(f"reusing {DB_NAME} (ZHCG_BENCH_KEEP_DB): migrated to head, no generation")
            prepare(demo=False)
        else:
            log(f"creating {DB_NAME} with the demo city and {CASES:,} cases …")
        try:
            if not reuse:
                create_database()
                prepare()
            with psycopg.connect(DB_URL.replace("+psycopg", ""), autocommit=True) as connection:
                setup = {"reused": 1.0} if reuse else generate(connection)
                total = connection.execute('SELECT count(*) FROM "case"').fetchone()
                events = connection.execute("SELECT count(*) FROM case_event").fetchone()
        except BaseException:
            if not reuse:  # never keep a half-generated database for the next run to reuse
                drop_database(force=True)
            raise
        log(
            f"{'reused' if reuse else 'generated'} {total[0] if total else 0:,} cases and "
            f"{events[0] if events else 0:,} events: {setup}"
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(port)
        wait_healthy(base, server)
        with httpx.Client(base_url=base, timeout=10) as bare:
            baseline = measure(bare, "/healthz")["p50_ms"]
        log(f"/healthz p50 {baseline:.1f} ms (client and HTTP overhead)")
        clients: dict[str, httpx.Client] = {}
        measured: dict[str, Any] = {"cases": total[0] if total else 0, "healthz_p50_ms": round(baseline, 1)}
        ok = True
        for name, path, account in PAGES:
            client = clients.get(account) or signed_in(base, account)
            clients[account] = client
            result = measure(client, path)
            server_ms = max(0.0, result["p50_ms"] - baseline)
            target = TARGET_EVALUATION_MS if name.startswith("evaluation") else TARGET_QUEUE_MS
            passed = result["status"] == 200 and server_ms <= target
            ok = ok and passed
            measured[name] = {
                "server_p50_ms": round(server_ms, 1),
                "p95_ms": round(result["p95_ms"], 1),
                "status": int(result["status"]),
                "bytes": int(result["bytes"]),
            }
            log(
                f"{name:<30} {path:<70} server p50 {server_ms:7.1f} ms  p95 {result['p95_ms']:7.1f} ms  "
                f"HTTP {int(result['status'])}  {'ok' if passed else 'OVER TARGET'}"
            )
        for client in clients.values():
            client.close()
        print(
            json.dumps(
                {
                    "bench": "console",
                    "measured": measured,
                    "target": {
                        "queue_server_ms": TARGET_QUEUE_MS,
                        "evaluation_month_server_ms": TARGET_EVALUATION_MS,
                    },
                    "pass": ok,
                },
                ensure_ascii=False,
            )
        )
        return 0 if ok else 1
    finally:
        if server is not None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
        drop_database()


if __name__ == "__main__":
    sys.exit(main())
