"""What an agent does with a call: the screen-pop (the caller's history) and the call's disposition.

- ``screen_pop``: the call, the caller's previous cases (by reporter phone, those the agent may see)
  and previous calls;
- ``create_case``: a work order (channel ``hotline``, 待受理) built like the other intake paths
  (``core.cases.intake``), linked to the call (disposition ``case``);
- ``close_as_enquiry``: a pure enquiry (disposition ``enquiry``) with a note;
- ``link_to_case``: about an existing case (disposition ``linked``).

A call gets one disposition: claiming it is a guarded update, so a second tab (or a colleague) that
handles the same call gets a conflict instead of a second case. The agent of the call handles it;
shift leads and admins may handle any call. Services never commit; the route audits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.cases import access
from core.cases.intake import MAX_DESCRIPTION, ReportInput, new_case
from core.cases.service import flush, get_case, record_event
from core.cases.workflow import STATUS_LABELS
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.geo.coords import CoordSystem
from core.kit.clock import utcnow
from core.models import Case, CaseStatus, Category, Channel, StaffRole, StaffUser
from core.models.calls import Call, CallDirection, CallDisposition, CallOutcome
from core.settings import Settings

HISTORY_LIMIT = 10
MAX_NOTE = 500
# Roles that may handle any call (others only the calls they answered).
ANY_CALL_ROLES = frozenset({StaffRole.SHIFT_LEAD, StaffRole.ADMIN})
OUTCOME_LABELS = {
    CallOutcome.ANSWERED: "已接听",
    CallOutcome.ABANDONED: "放弃",
    CallOutcome.MISSED: "未接",
    CallOutcome.FAILED: "外呼失败",
}
DISPOSITION_LABELS = {
    CallDisposition.NONE: "未处理",
    CallDisposition.CASE: "已立单",
    CallDisposition.ENQUIRY: "咨询",
    CallDisposition.LINKED: "关联已有案件",
}


@dataclass(frozen=True)
class PreviousCase:
    case_no: str
    status: str
    created_at: datetime
    description: str


@dataclass(frozen=True)
class PreviousCall:
    id: int
    started_at: datetime
    line: str
    outcome: str
    disposition: str
    case_no: str


@dataclass(frozen=True)
class ScreenPop:
    call: Call
    previous_cases: list[PreviousCase]
    previous_calls: list[PreviousCall]


@dataclass(frozen=True)
class WorkOrderInput:
    category_code: str
    description: str
    lng: float
    lat: float
    address: str = ""
    reporter_name: str = ""
    coord: CoordSystem = CoordSystem.WGS84


def get_call(session: Session, call_id: int) -> Call:
    call = session.get(Call, call_id)
    if call is None or call.direction is not CallDirection.INBOUND:
        raise NotFound("call_not_found", "来电不存在")
    return call


def may_handle(staff: StaffUser, call: Call) -> bool:
    return staff.role in ANY_CALL_ROLES or (
        call.agent_staff_id is not None and call.agent_staff_id == staff.id
    )


def require_handler(staff: StaffUser, call: Call) -> None:
    if not may_handle(staff, call):
        raise Forbidden("call_forbidden", "该来电不是您接听的")


def previous_cases(session: Session, staff: StaffUser, number: str) -> list[PreviousCase]:
    """The caller's cases (reporter phone), newest first, among those the agent may see."""
    if not number:
        return []
    statement = (
        select(Case)
        .where(col(Case.reporter_phone) == number[:20], access.visible_condition(session, staff))
        .order_by(col(Case.created_at).desc(), col(Case.id).desc())
        .limit(HISTORY_LIMIT)
    )
    return [
        PreviousCase(
            case_no=case.case_no,
            status=STATUS_LABELS.get(case.status, case.status.value),
            created_at=case.created_at,
            description=case.description[:60],
        )
        for case in session.exec(statement).all()
    ]


def previous_calls(session: Session, call: Call) -> list[PreviousCall]:
    """The caller's earlier inbound calls, newest first."""
    if not call.caller_number:
        return []
    statement = (
        sa.select(Call, col(Case.case_no))
        .outerjoin(Case, col(Case.id) == col(Call.case_id))
        .where(
            col(Call.caller_number) == call.caller_number,
            col(Call.direction) == CallDirection.INBOUND,
            col(Call.id) != call.id,
            col(Call.started_at) <= call.started_at,
        )
        .order_by(col(Call.started_at).desc(), col(Call.id).desc())
        .limit(HISTORY_LIMIT)
    )
    rows: list[PreviousCall] = []
    for earlier, case_no in session.execute(statement):
        assert earlier.id is not None
        rows.append(
            PreviousCall(
                id=earlier.id,
                started_at=earlier.started_at,
                line=earlier.line,
                outcome=OUTCOME_LABELS.get(earlier.outcome, "进行中") if earlier.outcome else "进行中",
                disposition=DISPOSITION_LABELS[earlier.disposition],
                case_no=case_no or "",
            )
        )
    return rows


def screen_pop(session: Session, staff: StaffUser, call: Call) -> ScreenPop:
    require_handler(staff, call)
    return ScreenPop(
        call=call,
        previous_cases=previous_cases(session, staff, call.caller_number),
        previous_calls=previous_calls(session, call),
    )


def minor_categories(session: Session) -> list[Category]:
    """The categories a work order can take (active minor categories), by code."""
    statement = (
        select(Category)
        .where(col(Category.level) == "minor", col(Category.active).is_(True))
        .order_by(col(Category.code))
    )
    return list(session.exec(statement).all())


def _claim(session: Session, call: Call, disposition: CallDisposition, note: str) -> None:
    """Give the call its disposition, once: a call already handled (another tab, a colleague) conflicts."""
    assert call.id is not None
    statement = (
        sa.update(Call)
        .where(col(Call.id) == call.id, col(Call.disposition) == CallDisposition.NONE)
        .values(disposition=disposition, note=note, updated_at=utcnow())
    )
    if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("call_already_handled", "该来电已经处理过了（可能在另一个窗口或由其他坐席处理）")
    session.refresh(call)


def _note(text: str) -> str:
    return text.strip()[:MAX_NOTE]


def create_case(
    session: Session, settings: Settings, *, call: Call, staff: StaffUser, data: WorkOrderInput
) -> Case:
    """A work order from the call: a hotline case (待受理) with the caller as reporter, linked to the call."""
    require_handler(staff, call)
    report = ReportInput(
        category_code=data.category_code,
        description=data.description[:MAX_DESCRIPTION],
        lng=data.lng,
        lat=data.lat,
        coord=data.coord,
        address=data.address,
        anonymous=False,
        public=False,  # a caller never agreed to publish the report
        channel=Channel.HOTLINE,
    )
    case = new_case(session, settings, report, CaseStatus.PENDING)
    case.reporter_phone = call.caller_number[:20]
    case.reporter_name = data.reporter_name.strip()[:64]
    session.add(case)
    flush(session)
    assert case.id is not None
    _claim(session, call, CallDisposition.CASE, "")
    call.case_id = case.id
    session.add(call)
    line = f"{call.line} " if call.line else ""
    record_event(session, case, action="report", actor=staff, from_status=None, note=f"{line}热线来电立单")
    flush(session)
    return case


def close_as_enquiry(session: Session, *, call: Call, staff: StaffUser, note: str) -> Call:
    require_handler(staff, call)
    text = _note(note)
    if not text:
        raise Invalid("note_required", "请填写咨询内容或答复摘要")
    _claim(session, call, CallDisposition.ENQUIRY, text)
    return call


def link_to_case(session: Session, *, call: Call, staff: StaffUser, case_no: str, note: str) -> Case:
    """The call is about an existing case the agent may see (progress question, complaint)."""
    require_handler(staff, call)
    case_no = case_no.strip()
    if not case_no:
        raise Invalid("case_no_required", "请填写案件编号")
    case = get_case(session, case_no)
    if not access.may_view(session, staff, case):
        raise Forbidden("case_forbidden", "该案件不在您的职责范围内")
    assert case.id is not None
    _claim(session, call, CallDisposition.LINKED, _note(note))
    call.case_id = case.id
    session.add(call)
    session.flush()
    return case


def calls_of_case(session: Session, case_id: int) -> list[Call]:
    """The calls linked to a case (a work order's call and later calls about it), oldest first."""
    statement = select(Call).where(col(Call.case_id) == case_id).order_by(col(Call.started_at), col(Call.id))
    return list(session.exec(statement).all())
