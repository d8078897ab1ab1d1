"""Periodic check that the working-time calendar knows this year and the next."""

from __future__ import annotations

from core.calendar import service as calendar_service
from core.kit.clock import to_local, utcnow
from workers.context import job_session


def check_years() -> None:
    with job_session() as session:
        calendar_service.check_years(session, today=to_local(utcnow()).date())
