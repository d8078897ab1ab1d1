"""What the staff console's case page shows beyond the staff view: deadlines with the working time
left, photos grouped by stage, the unit grid's outline, the masked reporter phone, linked calls.

Queries the console needs that the case repository does not have live here (read-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.calendar.service import get_calendar
from core.cases import deadlines, repository
from core.kit.workcal import LimitKind
from core.models import Case, CaseStatus, Department, PhotoStage, StaffRole, UnitGrid, UploadStatus
from core.settings import Settings

# Roles whose work needs the reporter's full number (calling back); each showing is audited.
PHONE_ROLES = frozenset({StaffRole.OPERATOR, StaffRole.SHIFT_LEAD, StaffRole.DISPATCHER, StaffRole.ADMIN})

STAGE_LABELS: dict[PhotoStage, str] = {
    PhotoStage.REPORT: "上报照片",
    PhotoStage.HANDLING: "处置照片",
    PhotoStage.CHECK: "核查照片",
}

DEADLINE_LABELS = {"register": "立案时限", "dispatch": "派遣时限", "handle": "处置时限", "check": "核查时限"}

CURRENT_STAGE: dict[CaseStatus, str] = {
    CaseStatus.PENDING: "register",
    CaseStatus.VERIFYING: "register",
    CaseStatus.ACCEPTED: "register",
    CaseStatus.REGISTERED: "dispatch",
    CaseStatus.DISPATCHED: "handle",
    CaseStatus.SUSPENDED: "handle",
    CaseStatus.HANDLED: "check",
    CaseStatus.CHECKING: "check",
}


def mask_phone(phone: str | None) -> str:
    """``13800138000`` → ``138****8000``; short numbers keep only their last two digits."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * max(len(phone) - 2, 0) + phone[-2:]


def may_see_phone(role: StaffRole) -> bool:
    return role in PHONE_ROLES


@dataclass(frozen=True)
class PhotoItem:
    upload_id: str
    ready: bool


@dataclass(frozen=True)
class PhotoGroup:
    stage: str
    label: str
    photos: list[PhotoItem]


def photo_groups(session: Session, case: Case) -> list[PhotoGroup]:
    """The case's photos by stage (report, handling, check), in upload order; empty stages left out."""
    assert case.id is not None
    by_stage: dict[PhotoStage, list[PhotoItem]] = {stage: [] for stage in PhotoStage}
    for photo, upload in repository.photos(session, case.id):
        by_stage[photo.stage].append(
            PhotoItem(upload_id=upload.id, ready=upload.status is UploadStatus.READY)
        )
    return [
        PhotoGroup(stage=stage.value, label=STAGE_LABELS[stage], photos=items)
        for stage, items in by_stage.items()
        if items
    ]


def case_shows_upload(session: Session, case: Case, upload_id: str) -> bool:
    assert case.id is not None
    return any(upload.id == upload_id for _, upload in repository.photos(session, case.id))


def unit_grid_geometry(session: Session, code: str) -> str | None:
    """The unit grid's polygon as GeoJSON (WGS-84), if the grid is known."""
    return session.exec(select(UnitGrid.geometry).where(col(UnitGrid.code) == code)).first()


def active_departments(session: Session) -> list[Department]:
    stmt = select(Department).where(col(Department.active).is_(True)).order_by(col(Department.code))
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class LinkedCall:
    """A hotline call about the case (the hotline is not built yet)."""

    at: datetime
    caller: str
    summary: str


def linked_calls(session: Session, case: Case) -> list[LinkedCall]:
    """The hotline calls linked to the case (its work order's call, later calls about it), oldest first;
    the caller's number masked (the case page shows the full number only on request, audited)."""
    from core.calls.workorder import DISPOSITION_LABELS, OUTCOME_LABELS, calls_of_case

    if case.id is None:
        return []
    rows: list[LinkedCall] = []
    for call in calls_of_case(session, case.id):
        parts = [f"{call.line} 热线" if call.line else "热线"]
        if call.outcome is not None:
            parts.append(OUTCOME_LABELS.get(call.outcome, ""))
        parts.append(DISPOSITION_LABELS[call.disposition])
        if call.talk_s:
            parts.append(f"通话 {call.talk_s} 秒")
        if call.note:
            parts.append(call.note[:80])
        rows.append(
            LinkedCall(at=call.started_at, caller=mask_phone(call.caller_number), summary=" · ".join(parts))
        )
    return rows


@dataclass(frozen=True)
class DeadlineRow:
    stage: str
    label: str
    due_at: datetime | None
    kind_label: str
    remaining: str  # "剩余 …" / "已超期 …" / "" when no clock runs
    overdue: bool
    current: bool
    paused: bool = False


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时"
    if hours:
        return f"{hours} 小时 {mins} 分"
    return f"{mins} 分钟"


def _remaining(seconds: float | None) -> tuple[str, bool]:
    if seconds is None:
        return "", False
    if seconds <= 0:
        return f"已超期 {_span(seconds)}", True
    return f"剩余 {_span(seconds)}", False


def deadline_rows(session: Session, settings: Settings, case: Case, now: datetime) -> list[DeadlineRow]:
    """Each stage deadline the case has, with the time left on the working-time calendar for the
    stage it is in (wall time for 紧急工作时 limits); a suspended case's clock stands still."""
    current = CURRENT_STAGE.get(case.status)
    marked = {stage for stage in case.overdue_stages.split(",") if stage}
    calendar = get_calendar(session, settings)
    rows: list[DeadlineRow] = []
    work_hours = LimitKind.WORK_HOURS
    for stage, due in (
        ("register", case.register_due_at),
        ("dispatch", case.dispatch_due_at),
        ("handle", case.handle_due_at),
        ("check", case.check_due_at),
    ):
        kind = case.handle_limit_kind if stage == "handle" and case.handle_limit_kind else work_hours
        paused = stage == "handle" and case.status is CaseStatus.SUSPENDED
        if due is None and not paused:
            continue
        remaining, overdue = "", stage in marked
        if stage == current and due is not None:
            if stage == "handle":
                seconds = deadlines.remaining_handle_seconds(session, settings, case, now)
            elif now >= due:
                seconds = -calendar.elapsed(due, now, kind).total_seconds()
            else:
                seconds = calendar.elapsed(now, due, kind).total_seconds()
            remaining, late = _remaining(seconds)
            overdue = overdue or late
        elif paused:
            remaining = "挂账中，计时暂停"
        rows.append(
            DeadlineRow(
                stage=stage,
                label=DEADLINE_LABELS[stage],
                due_at=due,
                kind_label=kind.label,
                remaining=remaining,
                overdue=overdue,
                current=stage == current,
                paused=paused,
            )
        )
    return rows
