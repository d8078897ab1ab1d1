"""What a job runs inside: settings, the job's own unit of work, structured logging."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from core.db import session_scope
from core.logging import configure_logging
from core.settings import get_settings


@contextmanager
def job_session() -> Iterator[Session]:
    """The job wrapper is the outermost unit of work: it commits, services do not."""
    with session_scope() as session:
        yield session


__all__ = ["configure_logging", "get_settings", "job_session"]
