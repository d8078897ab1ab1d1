"""Stage and case deadlines on the working-time calendar."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from core.calendar.service import get_calendar
from core.cases import repository
from core.kit.workcal import LimitKind
from core.models import Case
from core.settings import Settings


def work_hours_after(session: Session, settings: Settings, start: datetime, hours: float) -> datetime:
    return get_calendar(session, settings).add(start, Decimal(str(hours)), LimitKind.WORK_HOURS)


def handle_deadline(session: Session, settings: Settings, case: Case) -> datetime | None:
    """The department's deadline: its limit from the clock start, paused intervals not counted."""
    if case.handle_started_at is None or case.handle_limit_kind is None or case.handle_limit_amount is None:
        return None
    assert case.id is not None
    pauses = [(pause.started_at, pause.ended_at) for pause in repository.pauses(session, case.id)]
    return get_calendar(session, settings).deadline(
        case.handle_started_at, case.handle_limit_amount, case.handle_limit_kind, pauses=pauses
    )


def handle_limit_duration(session: Session, settings: Settings, case: Case) -> float | None:
    """The handling limit in seconds of (working) time, for "how much is left" questions."""
    if case.handle_limit_kind is None or case.handle_limit_amount is None:
        return None
    calendar = get_calendar(session, settings)
    return calendar.duration(case.handle_limit_amount, case.handle_limit_kind).total_seconds()


def remaining_handle_seconds(session: Session, settings: Settings, case: Case, now: datetime) -> float | None:
    if case.handle_due_at is None or case.handle_limit_kind is None:
        return None
    calendar = get_calendar(session, settings)
    if now >= case.handle_due_at:
        return -calendar.elapsed(case.handle_due_at, now, case.handle_limit_kind).total_seconds()
    return calendar.elapsed(now, case.handle_due_at, case.handle_limit_kind).total_seconds()
