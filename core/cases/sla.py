"""The SLA clock: mark overdue stages and urge (督办) cases whose handling time is nearly used up.

Run by the periodic job ``cases.mark_overdue``; idempotent (a stage is marked once, a case is
auto-urged once per handling period).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from core.cases import deadlines, repository
from core.cases.service import flush, record_event
from core.models import Case, CaseStatus
from core.settings import Settings

STAGE_LABELS = {"register": "立案", "dispatch": "派遣", "handle": "处置", "check": "核查"}
URGE_HORIZON = timedelta(days=14)


def _overdue_stages(case: Case, now: datetime) -> list[str]:
    due: list[tuple[str, datetime | None]] = []
    if case.status in {CaseStatus.PENDING, CaseStatus.ACCEPTED, CaseStatus.VERIFYING}:
        due.append(("register", case.register_due_at))
    if case.status is CaseStatus.REGISTERED:
        due.append(("dispatch", case.dispatch_due_at))
    if case.status is CaseStatus.DISPATCHED:
        due.append(("handle", case.handle_due_at))
    if case.status in {CaseStatus.HANDLED, CaseStatus.CHECKING}:
        due.append(("check", case.check_due_at))
    return [stage for stage, at in due if at is not None and at < now]


def mark_overdue(session: Session, settings: Settings, *, now: datetime) -> list[str]:
    """Marks newly overdue stages; returns the case numbers changed."""
    changed: list[str] = []
    for case in repository.open_cases_due_before(session, now):
        marked = {stage for stage in case.overdue_stages.split(",") if stage}
        new = [stage for stage in _overdue_stages(case, now) if stage not in marked]
        if not new:
            continue
        case.overdue = True
        case.overdue_stages = ",".join(sorted(marked | set(new)))
        labels = "、".join(STAGE_LABELS[stage] for stage in new)
        record_event(
            session, case, action="overdue", actor=None, from_status=case.status, note=f"{labels}超期"
        )
        session.add(case)
        changed.append(case.case_no)
    flush(session)
    return changed


def urge_due_soon(session: Session, settings: Settings, *, now: datetime) -> list[str]:
    """Urges once per handling period the cases with less than the configured share of time left."""
    urged: list[str] = []
    for case in repository.handling_due_before(session, now + URGE_HORIZON):
        if case.handle_started_at is None or repository.system_urged_since(
            session, case, case.handle_started_at
        ):
            continue
        total = deadlines.handle_limit_duration(session, settings, case)
        left = deadlines.remaining_handle_seconds(session, settings, case, now)
        if (
            total is None
            or left is None
            or left <= 0
            or left > total * settings.cases.urge_when_remaining_ratio
        ):
            continue
        case.urge_count += 1
        record_event(
            session,
            case,
            action="urge",
            actor=None,
            from_status=case.status,
            note="处置时限即将到期，系统自动督办",
        )
        session.add(case)
        urged.append(case.case_no)
    flush(session)
    return urged
