"""What a job runs inside: settings, the job's own unit of work, structured logging."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from core.db import session_scope
from core.jobs import flush_outbox_deletes
from core.logging import configure_logging
from core.settings import get_settings


@contextmanager
def job_session() -> Iterator[Session]:
    """The job wrapper is the outermost unit of work: it commits, services do not. The outbox rows of
    the jobs it queued are deleted before it returns: RQ's work horse ends with ``os._exit``, which
    skips the gathered deletes (the relay would send those jobs once more, refused as duplicates)."""
    try:
        with session_scope() as session:
            yield session
    finally:
        flush_outbox_deletes()


__all__ = ["configure_logging", "get_settings", "job_session"]
