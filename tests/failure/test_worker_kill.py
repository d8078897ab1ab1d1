"""A worker killed in the middle of a job: the job is retried and its effect happens once.

The job is ``notify.deliver`` texting a citizen through the local SMS gateway, killed at the worst
moment: the gateway accepted the message but its answer never reached the job (a proxy holds it). Two
ways to die (decision 0016):

- ``worker``: the worker and its work horse are killed with SIGKILL (a lost machine). Nobody marks the
  job failed; its claim in RQ's started registry expires about three heartbeats later and the registry
  clean-up of the next worker retries it (``AbandonedJobError``).
- ``horse``: only the work horse is killed (the kernel's OOM killer); the worker sees it die and
  retries the job with the spec's back-off.

Either way the retried job sends the SMS again with the same ``out_id``, which the gateway answers
without texting twice; the citizen gets one message and the outbox message ends ``sent``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import Engine
from sqlmodel import col, delete, select

from core.db import session_scope
from core.jobs import JOBS, RQDispatcher, configure_jobs
from core.models import Citizen, OutboxDelivery, OutboxMessage, OutboxStatus
from core.notify import outbox
from core.settings import Settings
from tests.failure._procs import wait_until
from tests.fixtures.fake_sms import FakeSms, running_fake_sms

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 15.0
RETRIED_WITHIN_S = 120.0  # claim expiry (~6 s here) + the spec's first back-off (10 s) + a worker's start
# Small intervals so a dead worker's job is noticed in seconds; the horse's SMS call waits for the kill.
WORKER_FLAGS = ("--job-heartbeat", "1", "--maintenance", "1")


class HoldingProxy:
    """Forwards SMS requests to the gateway; while ``holding``, keeps the gateway's answer from the
    caller (the message is sent, the job never hears so). Held calls end when the proxy is released."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.holding = True
        self.held = 0
        self.released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {
                    name: value for name, value in self.headers.items() if name.lower().startswith("x-")
                }
                headers["Content-Type"] = self.headers.get("Content-Type", "application/json")
                answer = httpx.post(f"{proxy.upstream}{self.path}", content=body, headers=headers, timeout=10)
                if proxy.holding:
                    proxy.held += 1
                    proxy.released.wait(timeout=120)
                    return  # the caller is gone by now; no answer
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def pass_through(self) -> None:
        self.holding = False
        self.released.set()

    def __enter__(self) -> HoldingProxy:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def phone(engine: Engine) -> Iterator[str]:
    """A phone of a citizen committed for real (the worker processes must see it); removed afterwards."""
    number = f"137{secrets.randbelow(10**8):08d}"
    yield number
    with session_scope(engine) as session:
        citizen_ids = select(Citizen.id).where(col(Citizen.phone) == number).scalar_subquery()
        message_ids = select(OutboxMessage.id).where(col(OutboxMessage.citizen_id).in_(citizen_ids))
        session.exec(
            delete(OutboxDelivery).where(col(OutboxDelivery.message_id).in_(message_ids.scalar_subquery()))
        )  # type: ignore[call-overload]
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.citizen_id).in_(citizen_ids)))  # type: ignore[call-overload]
        session.exec(delete(Citizen).where(col(Citizen.phone) == number))  # type: ignore[call-overload]


def committed_message(engine: Engine, phone: str) -> int:
    """A citizen and an outbox message, committed: the commit sends notify.deliver to Redis."""
    with session_scope(engine) as session:
        citizen = Citizen(phone=phone)
        session.add(citizen)
        session.flush()
        assert citizen.id is not None
        [message] = outbox.record(
            session,
            case_id=None,
            event="case_closed",
            citizen_ids=[citizen.id],
            payload={"case_no": "NKILL001"},
        )
        assert message.id is not None
        return message.id


def message_state(engine: Engine, message_id: int) -> tuple[OutboxStatus, str, int]:
    with session_scope(engine) as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message.status, message.channel, message.attempts


def start_worker(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:  # a file, not a pipe: nobody reads while it runs
        return subprocess.Popen(
            [sys.executable, "-m", "workers", "worker", *WORKER_FLAGS, *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def horse_of(worker: subprocess.Popen[bytes]) -> int:
    """The pid of the work horse the worker forked for the running job (its only child then)."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def worker_logs(folder: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(folder.glob("*.log")))[-4000:]


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker: warm shutdown, else SIGKILL to its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)


@pytest.mark.parametrize("victim", ["worker", "horse"])
def test_a_job_killed_mid_call_is_retried_and_texts_once(
    victim: str, engine: Engine, rq_settings: Settings, fake: FakeSms, phone: str, tmp_path: Path
) -> None:
    dispatcher = configure_jobs(rq_settings)
    assert isinstance(dispatcher, RQDispatcher)
    with HoldingProxy(fake.api_base) as proxy:
        env = {
            **os.environ,
            **fake.environment(),
            "ZHCG_SMS__API_BASE": proxy.base,
            "ZHCG_SMS__TIMEOUT_S": "120",  # the job waits on the held answer until it is killed
            "ZHCG_REDIS__URL": str(rq_settings.redis.url),
            "ZHCG_REDIS__QUEUE_PREFIX": rq_settings.redis.queue_prefix,
        }
        message_id = committed_message(engine, phone)
        queue = Queue(
            f"{rq_settings.redis.queue_prefix}-notify", connection=Redis.from_url(str(rq_settings.redis.url))
        )
        [job_id] = queue.job_ids

        first = start_worker(env, tmp_path / "first.log", "--burst")
        try:
            wait_until(lambda: proxy.held == 1, timeout=60, what="the SMS call to reach the gateway")
            assert len(fake.messages_to(phone)) == 1  # sent: only the job does not know it
            horse = horse_of(first)
            if victim == "worker":
                os.killpg(first.pid, signal.SIGKILL)  # the worker (and anything in its group) …
                os.kill(horse, signal.SIGKILL)  # … and the horse, which has a process group of its own
                first.wait(timeout=STOP_TIMEOUT_S)
                expected = JobStatus.STARTED  # nobody is left to say otherwise
            else:
                os.kill(horse, signal.SIGKILL)
                first.wait(timeout=60)  # --burst: it records the failure, schedules the retry, exits
                expected = JobStatus.SCHEDULED
            assert Job.fetch(job_id, connection=queue.connection).get_status() == expected
        finally:
            stop(first)
        proxy.pass_through()
        assert message_state(engine, message_id) == (OutboxStatus.PENDING, "", 1)

        # A long-running worker: its registry clean-ups and its scheduler bring the job back.
        second = start_worker(env, tmp_path / "second.log")
        try:
            wait_until(
                lambda: message_state(engine, message_id)[0] is OutboxStatus.SENT,
                timeout=RETRIED_WITHIN_S,
                what="the retried job to finish the delivery",
            )
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{worker_logs(tmp_path)}") from exc
        finally:
            stop(second)

    assert message_state(engine, message_id) == (OutboxStatus.SENT, "sms", 2), worker_logs(tmp_path)
    assert len(fake.messages_to(phone)) == 1  # the retry's call was answered with the first message
    assert fake.requests == 2
    job = Job.fetch(job_id, connection=queue.connection)
    assert job.get_status() == JobStatus.FINISHED
    assert job.retries_left == len(JOBS["notify.deliver"].retries) - 1  # one retry spent
