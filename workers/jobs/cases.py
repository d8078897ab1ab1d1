"""Periodic SLA work: overdue marks and automatic urging."""

from __future__ import annotations

from core.cases import sla
from core.kit.clock import utcnow
from workers.context import get_settings, job_session


def mark_overdue() -> None:
    with job_session() as session:
        now = utcnow()
        settings = get_settings()
        sla.mark_overdue(session, settings, now=now)
        sla.urge_due_soon(session, settings, now=now)
