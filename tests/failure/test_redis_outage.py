"""Redis stopped during intake: photos and reports are still accepted (201), the photo jobs of those
commits wait in the job outbox (decision 0016), and once Redis is back the relay sends them and a real
worker runs each of them once.

Real processes throughout: a private ``redis-server`` on a free port (stopping it disturbs no other
test run), the API under uvicorn, ``python -m workers relay`` and ``python -m workers worker --burst``,
on a database of this test's own.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from PIL import Image
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import Engine, select
from sqlmodel import col

from core.db import build_engine, session_scope
from core.jobs_outbox import TABLE as OUTBOX
from core.migrate import upgrade
from core.models import Upload, UploadStatus
from tests.conftest import TMP_ROOT, database_url, drop_database
from tests.failure._procs import free_port, wait_until
from tests.fixtures.cases import build_city
from tests.fixtures.factories import Factory

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "zhcgoutage"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 15.0
REPORTS_WHILE_DOWN = 3


class PrivateRedis:
    """``redis-server`` without persistence on a free port, in a folder of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.root)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self._answers, timeout=START_TIMEOUT_S, what="the private Redis to answer")

    def _answers(self) -> bool:
        try:
            return bool(Redis.from_url(self.url, socket_timeout=1).ping())
        except RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None


class Api:
    """``api.main:create_app`` under uvicorn, configured through the environment as deployed."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "ZHCG_APP__BASE_URL": self.base}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Api:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._ready, timeout=START_TIMEOUT_S, what="the API to be ready")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the API exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


@dataclass
class Live:
    engine: Engine
    env: dict[str, str]
    root: Path
    redis: PrivateRedis
    headers: dict[str, str]
    point: tuple[float, float]

    def workers(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workers", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


@pytest.fixture
def live() -> Iterator[Live]:
    url = database_url(f"outage{secrets.token_hex(2)}")
    engine = build_engine(url)
    root = TMP_ROOT / f"redis-outage-{secrets.token_hex(3)}"
    redis = PrivateRedis(root / "redis")
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            city = build_city(session, Factory(session))
            headers = city.headers(city.citizen())
            point = city.point()
        redis.start()
        env = {
            **os.environ,
            "ZHCG_DB__URL": url,
            "ZHCG_REDIS__URL": redis.url,
            "ZHCG_REDIS__QUEUE_PREFIX": PREFIX,
            "ZHCG_REDIS__EMBEDDED_CRON": "false",
            "ZHCG_STORAGE__LOCAL_DIR": str(root / "photos"),
        }
        yield Live(engine, env, root, redis, headers, point)
    finally:
        redis.stop()
        engine.dispose()
        drop_database(url)


def photo(n: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (n * 40 % 256, 90, 160)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def report(http: httpx.Client, live: Live, n: int) -> str:
    """Upload a photo and report with it; both must be accepted. The upload's id."""
    uploaded = http.post(
        "/api/v1/uploads", headers=live.headers, files={"file": ("p.jpg", photo(n), "image/jpeg")}
    )
    assert uploaded.status_code == 201, uploaded.text
    upload_id = str(uploaded.json()["id"])
    lng, lat = live.point
    body: dict[str, Any] = {
        "category": "SJ0102",
        "description": f"第 {n} 次上报：路边垃圾堆积多日",
        "lng": lng,
        "lat": lat,
        "coord": "wgs84",
        "upload_ids": [upload_id],
    }
    filed = http.post("/api/v1/reports", json=body, headers=live.headers)
    assert filed.status_code == 201, filed.text
    return upload_id


def outbox_rows(engine: Engine) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        return [(int(row.id), str(row.job)) for row in session.execute(select(OUTBOX.c.id, OUTBOX.c.job))]


def test_reports_are_accepted_while_redis_is_down_and_their_jobs_run_once_it_is_back(live: Live) -> None:
    with (
        Api(live.env, live.root / "api.log") as api,
        httpx.Client(base_url=api.base, timeout=HTTP_TIMEOUT_S) as http,
    ):
        live.redis.stop()
        uploads = [report(http, live, n) for n in range(REPORTS_WHILE_DOWN)]
        assert http.get("/readyz").status_code == 503  # the probe tells the operator …
        waiting = outbox_rows(live.engine)  # … and the jobs wait in the database
        assert [job for _, job in waiting] == ["uploads.derive"] * REPORTS_WHILE_DOWN

        live.redis.start()  # an empty Redis: whatever it held before is gone
        uploads.append(report(http, live, REPORTS_WHILE_DOWN))  # sent at once, or by the relay

    relayed = live.workers("relay", "--min-age", "0")
    assert relayed.returncode == 0, relayed.stderr[-3000:]
    assert outbox_rows(live.engine) == []
    worked = live.workers("worker", "--burst")
    assert worked.returncode == 0, worked.stderr[-3000:]

    with session_scope(live.engine) as session:
        stored = session.scalars(select(Upload).where(col(Upload.id).in_(uploads))).all()
        assert sorted(upload.status for upload in stored) == [UploadStatus.READY] * len(uploads)
        for upload in stored:
            assert (live.root / "photos" / str(upload.display_key)).is_file()
            assert (live.root / "photos" / str(upload.thumb_key)).is_file()

    connection = Redis.from_url(live.redis.url)
    photos = Queue(f"{PREFIX}-photos", connection=connection)
    assert FailedJobRegistry(queue=photos).get_job_ids() == []
    finished = FinishedJobRegistry(queue=photos).get_job_ids()
    expected = {f"{PREFIX}-outbox-{row_id}" for row_id, _ in waiting}
    assert expected <= set(finished)  # the jobs of the outage, under their outbox ids …
    assert len(finished) == len(uploads)  # … and one job per upload, nothing twice
    for job_id in finished:
        job = Job.fetch(job_id, connection=connection)
        assert job.get_status() == JobStatus.FINISHED
        assert len(job.results()) == 1  # one execution each
        assert job.kwargs["upload_id"] in uploads
