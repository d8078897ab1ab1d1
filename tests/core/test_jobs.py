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
