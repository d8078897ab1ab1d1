"""The job outbox with a real Redis (decision 0016): the jobs of a commit are written in it with one
INSERT and deleted once in Redis; with Redis down they stay and the relay sends them later, oldest
first, once each; the request id travels in the job's meta; the backlog is a metric."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import Connection, Engine, event, select
from sqlmodel import Session, col, delete

from core import jobs_outbox, metrics
from core.db import session_scope
from core.jobs import REQUEST_ID_META, PendingJob, RQDispatcher, configure_jobs, enqueue, relay_outbox
from core.kit.clock import utcnow
from core.kit.request_id import bound_request_id
from core.models import JobOutbox
from core.settings import Settings
from tests.conftest import TEST_BACKEND

DEAD_REDIS = "redis://127.0.0.1:1/0"
NOW = timedelta(0)  # relay everything, however fresh


def with_redis(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"redis": settings.redis.model_copy(update={"url": url})})


def queue(settings: Settings, name: str = "default") -> Queue:
    connection = Redis.from_url(str(settings.redis.url))
    return Queue(f"{settings.redis.queue_prefix}-{name}", connection=connection)


def tokens_queued(settings: Settings, mine: list[str] | None = None) -> list[str]:
    """The tokens of the pings in the queue, in queue order (only ``mine`` when given: the relay also
    sends rows other tests may have left in the shared database)."""
    tokens = [job.kwargs["token"] for job in queue(settings).jobs]
    return tokens if mine is None else [token for token in tokens if token in mine]


def outbox_ids(session: Session) -> list[int]:
    return [int(row_id) for row_id in session.scalars(select(jobs_outbox.TABLE.c.id).order_by("id"))]


@pytest.fixture
def committed_rows(engine: Engine) -> Iterator[list[int]]:
    """Ids of outbox rows a test committed for real (the relay reads them on its own connection);
    whatever of them is left is deleted afterwards."""
    ids: list[int] = []
    yield ids
    if ids:
        with session_scope(engine) as session:
            session.exec(delete(JobOutbox).where(col(JobOutbox.id).in_(ids)))  # type: ignore[call-overload]


def commit_pings(engine: Engine, tokens: list[str], rows: list[int]) -> list[int]:
    """Commit one ping per token in a real unit of work; the ids of the outbox rows it wrote."""
    with session_scope(engine) as session:
        before = set(outbox_ids(session))
    with session_scope(engine) as session:
        for token in tokens:
            enqueue(session, "system.ping", token=token)
    with session_scope(engine) as session:
        new = [row_id for row_id in outbox_ids(session) if row_id not in before]
    rows.extend(new)
    return new


class _statements:
    """Records the SQL a connection executes (a SQLAlchemy event, not a patch)."""

    def __init__(self, connection: Connection, into: list[str]) -> None:
        self.connection, self.into = connection, into

    def _record(self, *args: Any) -> None:
        self.into.append(str(args[2]))

    def __enter__(self) -> None:
        event.listen(self.connection, "before_cursor_execute", self._record)

    def __exit__(self, *exc: object) -> None:
        event.remove(self.connection, "before_cursor_execute", self._record)


def test_a_commit_writes_its_jobs_in_one_insert_and_deletes_them_once_queued(
    session: Session, rq_settings: Settings
) -> None:
    configure_jobs(rq_settings)
    tokens = [secrets.token_hex(4) for _ in range(3)]
    for token in tokens:
        enqueue(session, "system.ping", token=token)
    session.flush()
    assert outbox_ids(session) == []  # written with the commit, not before

    statements: list[str] = []
    with _statements(session.connection(), statements):
        session.commit()

    inserts = [sql for sql in statements if sql.startswith("INSERT INTO job_outbox")]
    deletes = [sql for sql in statements if sql.startswith("DELETE FROM job_outbox")]
    assert (len(inserts), len(deletes)) == (1, 1)
    assert outbox_ids(session) == []
    jobs = queue(rq_settings).jobs
    assert [job.kwargs["token"] for job in jobs] == tokens
    prefix = f"{rq_settings.redis.queue_prefix}-outbox-"
    assert all(job.id.startswith(prefix) for job in jobs)
    numbers = [int(job.id.removeprefix(prefix)) for job in jobs]
    assert numbers == sorted(set(numbers))  # each job under its own row's id, in enqueue order


def test_a_real_commit_has_its_rows_deleted_a_moment_later(
    engine: Engine, rq_settings: Settings, committed_rows: list[int]
) -> None:
    """Outside a test transaction the deletes are gathered (``DeferredDeletes``): the jobs are in Redis
    at once, their rows gone a moment later."""
    configure_jobs(rq_settings)
    tokens = [secrets.token_hex(4) for _ in range(3)]
    written = [row for token in tokens for row in commit_pings(engine, [token], committed_rows)]
    assert tokens_queued(rq_settings, tokens) == tokens
    deadline = time.monotonic() + 10
    while True:
        with session_scope(engine) as session:
            left = set(outbox_ids(session)) & set(written)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == set()


def test_gathered_deletes_can_be_flushed_at_once(engine: Engine, committed_rows: list[int]) -> None:
    with session_scope(engine) as session:
        ids = jobs_outbox.write(session, [("system.ping", {"token": "x"}, None)] * 2)
    committed_rows.extend(ids)
    deleter = jobs_outbox.DeferredDeletes(engine, delay_s=60)  # its thread would wait a minute
    deleter.add(ids)
    assert deleter.flush() == 2
    with session_scope(engine) as session:
        assert set(outbox_ids(session)) & set(ids) == set()
    assert deleter.flush() == 0


def test_rolled_back_work_writes_no_row_and_queues_nothing(session: Session, rq_settings: Settings) -> None:
    configure_jobs(rq_settings)
    kept, dropped = secrets.token_hex(4), secrets.token_hex(4)
    enqueue(session, "system.ping", token=kept)
    savepoint = session.begin_nested()
    enqueue(session, "system.ping", token=dropped)
    savepoint.rollback()
    session.commit()
    assert tokens_queued(rq_settings) == [kept]

    enqueue(session, "system.ping", token=secrets.token_hex(4))
    session.rollback()
    assert outbox_ids(session) == []
    assert tokens_queued(rq_settings) == [kept]


def test_the_request_id_travels_in_the_job_meta(session: Session, rq_settings: Settings) -> None:
    configure_jobs(rq_settings)
    with bound_request_id("req-h2-meta"):
        enqueue(session, "system.ping", token=secrets.token_hex(4))
    enqueue(session, "system.ping", token=secrets.token_hex(4))  # outside any request
    session.commit()
    first, second = queue(rq_settings).jobs
    assert first.meta[REQUEST_ID_META] == "req-h2-meta"
    assert REQUEST_ID_META not in second.meta


def test_job_arguments_must_be_json_values(session: Session) -> None:
    with pytest.raises(TypeError):
        enqueue(session, "system.ping", token=object())


def test_with_redis_down_the_rows_stay_and_the_relay_sends_them_once_in_order(
    engine: Engine, rq_settings: Settings, committed_rows: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    configure_jobs(with_redis(rq_settings, DEAD_REDIS))
    tokens = [secrets.token_hex(4) for _ in range(3)]
    with caplog.at_level("WARNING", logger="zhcg.jobs"):
        first = commit_pings(engine, tokens[:2], committed_rows)  # committed: no error for the caller
        second = commit_pings(engine, tokens[2:], committed_rows)  # within the back-off: not even tried
    assert len(first) == 2
    assert len(second) == 1
    messages = [record.getMessage() for record in caplog.records]
    assert any(
        "wait in the outbox for the relay" in message and "Redis error" in message for message in messages
    )
    assert any("unreachable moments ago" in message for message in messages)

    dispatcher = RQDispatcher(str(rq_settings.redis.url), rq_settings.redis.queue_prefix)
    assert relay_outbox(engine, dispatcher, min_age=timedelta(hours=1)) == 0  # too fresh: left alone
    assert relay_outbox(engine, dispatcher, min_age=NOW) >= 3
    assert tokens_queued(rq_settings, tokens) == tokens  # oldest first
    expected_ids = {dispatcher.outbox_job_id(row_id) for row_id in first + second}
    assert expected_ids <= {job.id for job in queue(rq_settings).jobs}
    with session_scope(engine) as session:
        assert not set(outbox_ids(session)) & set(committed_rows)
    relay_outbox(engine, dispatcher, min_age=NOW)
    assert tokens_queued(rq_settings, tokens) == tokens  # nothing left to send twice


def test_a_row_already_in_redis_is_deleted_without_queueing_it_again(
    engine: Engine, rq_settings: Settings, committed_rows: list[int]
) -> None:
    """The committing process sent the job and died before deleting its row."""
    dispatcher = RQDispatcher(str(rq_settings.redis.url), rq_settings.redis.queue_prefix)
    token = secrets.token_hex(4)
    with session_scope(engine) as session:
        [row_id] = jobs_outbox.write(session, [("system.ping", {"token": token}, "req-h2-dup")])
    committed_rows.append(row_id)
    assert dispatcher.send(PendingJob("system.ping", {"token": token}, outbox_id=row_id)) is True

    assert relay_outbox(engine, dispatcher, min_age=NOW) >= 1
    assert tokens_queued(rq_settings, [token]) == [token]
    with session_scope(engine) as session:
        assert row_id not in outbox_ids(session)
    job = Job.fetch(dispatcher.outbox_job_id(row_id), connection=dispatcher.connection)
    assert job.meta == {}  # the first send's job was kept, not replaced (that send had no request id)


def test_a_row_naming_no_job_is_dropped_with_an_error(
    engine: Engine, rq_settings: Settings, committed_rows: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    with session_scope(engine) as session:
        [row_id] = jobs_outbox.write(session, [("no.such.job", {}, None)])
    committed_rows.append(row_id)
    dispatcher = RQDispatcher(str(rq_settings.redis.url), rq_settings.redis.queue_prefix)
    with caplog.at_level("ERROR", logger="zhcg.jobs"):
        relay_outbox(engine, dispatcher, min_age=NOW)
    assert any(f"outbox row {row_id} names no job" in record.getMessage() for record in caplog.records)
    with session_scope(engine) as session:
        assert row_id not in outbox_ids(session)


def test_a_relay_stopped_by_redis_keeps_the_rows(
    engine: Engine, rq_settings: Settings, committed_rows: list[int]
) -> None:
    with session_scope(engine) as session:
        ids = jobs_outbox.write(session, [("system.ping", {"token": "t1"}, None)])
    committed_rows.extend(ids)
    dead = RQDispatcher(DEAD_REDIS, rq_settings.redis.queue_prefix)
    assert relay_outbox(engine, dead, min_age=NOW) == 0
    with session_scope(engine) as session:
        assert set(ids) <= set(outbox_ids(session))


@pytest.mark.skipif(
    TEST_BACKEND != "postgresql", reason="row claims with FOR UPDATE SKIP LOCKED are PostgreSQL's"
)
def test_relays_running_at_once_share_the_rows(
    engine: Engine, rq_settings: Settings, committed_rows: list[int]
) -> None:
    tokens = [secrets.token_hex(4) for _ in range(6)]
    with session_scope(engine) as session:
        ids = jobs_outbox.write(session, [("system.ping", {"token": token}, None) for token in tokens])
    committed_rows.extend(ids)
    dispatcher = RQDispatcher(str(rq_settings.redis.url), rq_settings.redis.queue_prefix)

    # One relay holds the first three rows (claimed, not yet sent) while another runs.
    with engine.connect() as holder, holder.begin():
        held = jobs_outbox.claim(holder, created_before=utcnow(), after_id=ids[0] - 1, limit=3)
        assert [row.id for row in held] == ids[:3]
        other = threading.Thread(target=relay_outbox, args=(engine, dispatcher), kwargs={"min_age": NOW})
        other.start()
        other.join(timeout=30)
        assert not other.is_alive()  # it skipped the locked rows instead of waiting for them
        assert tokens_queued(rq_settings, tokens) == tokens[3:]
    relay_outbox(engine, dispatcher, min_age=NOW)
    assert sorted(tokens_queued(rq_settings, tokens)) == sorted(tokens)


def test_the_backlog_is_a_metric(
    engine: Engine, session: Session, rq_settings: Settings, committed_rows: list[int]
) -> None:
    with session_scope(engine) as writer:
        committed_rows.extend(jobs_outbox.write(writer, [("system.ping", {"token": "m"}, None)]))
    count, oldest = jobs_outbox.backlog(session, now=utcnow() + timedelta(seconds=30))
    assert count >= 1
    assert oldest >= 30

    snapshot = metrics.read_snapshot(session, rq_settings, now=utcnow())
    assert snapshot.outbox is not None
    assert snapshot.outbox[0] >= 1
    text = metrics.SnapshotCollector(snapshot).collect()
    names = {family.name for family in text}
    assert {"zhcg_job_outbox_jobs", "zhcg_job_outbox_oldest_seconds"} <= names
    inline = metrics.read_snapshot(session, with_redis(rq_settings, ""), now=utcnow())
    assert inline.outbox is None  # no Redis, no outbox


def test_rows_keep_their_arguments_and_request_id(engine: Engine, committed_rows: list[int]) -> None:
    with session_scope(engine) as session:
        [row_id] = jobs_outbox.write(session, [("notify.deliver", {"message_id": 7}, "req-h2-row")])
    committed_rows.append(row_id)
    with engine.connect() as connection:
        rows = jobs_outbox.claim(
            connection, created_before=utcnow() + timedelta(seconds=1), after_id=row_id - 1, limit=1
        )
    assert [(row.id, row.job, row.kwargs, row.request_id) for row in rows] == [
        (row_id, "notify.deliver", {"message_id": 7}, "req-h2-row")
    ]
