"""Jobs are sent after commit and dropped on rollback (inline dispatcher, the embedded default)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlmodel import Session

from core.jobs import JOBS, InlineDispatcher, configure_jobs, enqueue, get_dispatcher, pending_jobs, resolve
from core.settings import get_settings
from workers.jobs.system import received_inline


@pytest.fixture(autouse=True)
def _inline() -> Iterator[None]:
    assert isinstance(configure_jobs(get_settings()), InlineDispatcher)
    received_inline.clear()
    yield
    received_inline.clear()


def token() -> str:
    return secrets.token_hex(4)


def test_job_runs_only_after_commit(session: Session) -> None:
    t = token()
    enqueue(session, "system.ping", token=t)
    assert received_inline == []
    assert [job.name for job in pending_jobs(session)] == ["system.ping"]
    session.commit()
    assert received_inline == [t]
    assert pending_jobs(session) == []


def test_job_dropped_on_rollback(session: Session) -> None:
    enqueue(session, "system.ping", token=token())
    session.rollback()
    session.commit()
    assert received_inline == []


def test_job_in_rolled_back_savepoint_is_dropped_but_outer_job_kept(session: Session) -> None:
    outer, inner = token(), token()
    enqueue(session, "system.ping", token=outer)
    savepoint = session.begin_nested()
    enqueue(session, "system.ping", token=inner)
    savepoint.rollback()
    session.commit()
    assert received_inline == [outer]


def test_job_in_released_savepoint_is_sent_with_the_outer_commit(session: Session) -> None:
    inner = token()
    with session.begin_nested():
        enqueue(session, "system.ping", token=inner)
    assert received_inline == []
    session.commit()
    assert received_inline == [inner]


def test_unknown_job_is_refused(session: Session) -> None:
    with pytest.raises(KeyError, match="unknown job"):
        enqueue(session, "no.such.job")


def test_dispatcher_follows_settings() -> None:
    assert isinstance(get_dispatcher(), InlineDispatcher)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_registered_job_resolves_to_a_function(name: str) -> None:
    assert callable(resolve(JOBS[name].path))


def test_calendar_check_job_runs_in_its_own_unit_of_work(
    engine: object, caplog: pytest.LogCaptureFixture
) -> None:
    from workers.jobs.calendar import check_years

    with caplog.at_level("WARNING", logger="zhcg.calendar"):
        check_years()  # the job opens its own session on the configured database


def test_job_in_a_savepoint_whose_flush_fails_is_dropped(session: Session) -> None:
    from sqlalchemy.exc import IntegrityError

    from core.models import Department, DepartmentKind

    session.add(Department(code="DUP", name="甲", kind=DepartmentKind.OTHER))
    session.flush()
    outer, inner = token(), token()
    enqueue(session, "system.ping", token=outer)
    savepoint = session.begin_nested()
    enqueue(session, "system.ping", token=inner)
    session.add(Department(code="DUP", name="乙", kind=DepartmentKind.OTHER))
    with pytest.raises(IntegrityError):
        session.flush()
    savepoint.rollback()
    session.commit()
    assert received_inline == [outer]


def test_jobs_of_a_session_closed_without_commit_are_dropped(engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    session = Session(engine)
    enqueue(session, "system.ping", token="never")
    session.close()
    later = token()
    enqueue(session, "system.ping", token=later)
    session.commit()
    session.close()
    assert received_inline == [later]


def test_redis_down_after_commit_is_logged_not_raised(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    base = get_settings()
    configure_jobs(
        base.model_copy(update={"redis": base.redis.model_copy(update={"url": "redis://127.0.0.1:1/0"})})
    )
    enqueue(session, "system.ping", token=token())
    with caplog.at_level("WARNING", logger="zhcg.jobs"):
        session.commit()  # the data is committed; the job waits in the outbox for the relay
    assert any("1 job(s) wait in the outbox" in record.getMessage() for record in caplog.records)
