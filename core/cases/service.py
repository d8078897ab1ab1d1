"""Every state change of a case. Nothing else assigns ``case.status``.

Each transition checks the workflow table (state and role), applies its rule, writes one history row,
records citizen notifications in the outbox, and flushes — a concurrent change of the same case
surfaces here as ``ConcurrentUpdate`` (409), thanks to the row's version column. Services never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from core.cases import assign, deadlines, repository
from core.cases.access import may_view, require
from core.cases.errors import (
    CaseNotFound,
    ConcurrentUpdate,
    IllegalTransition,
    PhotosRequired,
    ReasonRequired,
)
from core.cases.workflow import OPEN_STATUSES, RULES, STATUS_LABELS, Action
from core.errors import Conflict, Invalid
from core.geo import service as geo_service
from core.jobs import enqueue
from core.kit.clock import utcnow
from core.models import (
    ActorKind,
    Case,
    CaseEvent,
    CasePause,
    CasePhoto,
    CaseRequest,
    CaseStatus,
    Category,
    Channel,
    Citizen,
    PhotoStage,
    Priority,
    RequestKind,
    RequestStatus,
    StaffUser,
)
from core.notify import outbox
from core.rewards import service as rewards
from core.settings import Settings

MAX_NOTE = 1000
MAX_PHOTOS = 9


@dataclass(frozen=True)
class ActionInput:
    """What a staff member sends with an action (each action reads the fields it needs)."""

    note: str = ""
    reason: str = ""
    department_code: str | None = None
    register_standard_id: int | None = None
    category_code: str | None = None
    priority: Priority | None = None
    upload_ids: tuple[str, ...] = ()
    amount: Decimal | None = None
    passed: bool | None = None
    target_case_no: str | None = None
    supervisor_id: int | None = None
    reply: str = ""
    expected_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def get_case(session: Session, case_no: str) -> Case:
    case = repository.by_case_no(session, case_no)
    if case is None:
        raise CaseNotFound(case_no)
    return case


@contextmanager
def conflicts_as_409() -> Iterator[None]:
    """A concurrent update of the same case (version check failed, or SQLite's writer lock held)
    becomes ``ConcurrentUpdate`` — wherever the flush happens, including autoflush before a query."""
    try:
        yield
    except StaleDataError as exc:
        raise ConcurrentUpdate() from exc
    except OperationalError as exc:
        if "locked" in str(exc).lower():
            raise ConcurrentUpdate() from exc
        raise


def flush(session: Session) -> None:
    """Write now, so that a concurrent update of the same case is refused here as a 409."""
    with conflicts_as_409():
        session.flush()


def record_event(
    session: Session,
    case: Case,
    *,
    action: str,
    actor: StaffUser | Citizen | None,
    from_status: CaseStatus | None,
    note: str = "",
) -> CaseEvent:
    assert case.id is not None
    if isinstance(actor, StaffUser):
        kind, actor_id, role = ActorKind.STAFF, actor.id, actor.role.value
    elif isinstance(actor, Citizen):
        kind, actor_id, role = ActorKind.CITIZEN, actor.id, "citizen"
    else:
        kind, actor_id, role = ActorKind.SYSTEM, None, "system"
    event = CaseEvent(
        case_id=case.id,
        actor_kind=kind,
        actor_id=actor_id,
        actor_role=role,
        action=action,
        from_status=from_status,
        to_status=case.status,
        note=note[:MAX_NOTE],
        department_id=case.department_id,
    )
    session.add(event)
    if case.channel is Channel.GOV12345:
        # The 12345 platform hears of every step: its sweep turns new history rows into pushes (after
        # commit; also run by cron, so a lost job only delays a push).
        enqueue(session, "exchange.sweep")
    return event


def _check_allowed(session: Session, case: Case, action: Action, actor: StaffUser | None) -> None:
    rule = RULES[action]
    if case.status not in rule.sources:
        raise IllegalTransition(case.status, action.value, STATUS_LABELS[case.status], action.label)
    if actor is not None:
        require(session, actor, case, action)


def _move(
    session: Session,
    case: Case,
    *,
    action: Action,
    actor: StaffUser | None,
    to: CaseStatus,
    note: str = "",
    expected_version: int | None = None,
) -> CaseEvent:
    """Check the workflow rule, move the case, write the history row."""
    _check_allowed(session, case, action, actor)
    if expected_version is not None and expected_version != case.version:
        raise ConcurrentUpdate()
    from_status = case.status
    case.status = to
    case.updated_at = utcnow()
    session.add(case)
    return record_event(session, case, action=action.value, actor=actor, from_status=from_status, note=note)


def _required_reason(action: Action, data: ActionInput) -> str:
    reason = (data.reason or data.note).strip()
    if not reason:
        raise ReasonRequired(action.label)
    return reason[:MAX_NOTE]


def _notify(session: Session, case: Case, event: str, **payload: Any) -> None:
    outbox.record(
        session,
        case_id=case.id,
        event=event,
        citizen_ids=repository.followers_and_reporter(session, case),
        payload={
            "case_no": case.case_no,
            # For WeChat templates with such keywords; what the citizen reported, nothing personal.
            "category": category.name if (category := session.get(Category, case.category_id)) else "",
            "address": case.address,
            "at": utcnow().isoformat(),
            **payload,
        },
    )


def attach_photos(
    session: Session,
    case: Case,
    *,
    upload_ids: tuple[str, ...],
    owner: StaffUser | Citizen,
    stage: PhotoStage,
) -> int:
    if len(upload_ids) > MAX_PHOTOS:
        raise Invalid("too_many_photos", f"最多上传 {MAX_PHOTOS} 张照片")
    from core.uploads.service import attach_check

    uploads = attach_check(session, upload_ids=list(upload_ids), owner=owner)
    assert case.id is not None
    existing = {photo.upload_id for photo, _ in repository.photos(session, case.id)}
    added = 0
    for upload in uploads:
        if upload.id not in existing:
            session.add(CasePhoto(case_id=case.id, upload_id=upload.id, stage=stage))
            added += 1
    return added


# ---------------------------------------------------------------- centre: accept, verify, register


def accept(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    _move(
        session,
        case,
        action=Action.ACCEPT,
        actor=actor,
        to=CaseStatus.ACCEPTED,
        note=data.note,
        expected_version=data.expected_version,
    )
    case.accepted_at = utcnow()
    _notify(session, case, "case_accepted")
    flush(session)
    return case


def _assign_supervisor(session: Session, case: Case, supervisor_id: int | None) -> StaffUser:
    from core.models import StaffRole

    if supervisor_id is not None:
        supervisor = repository.staff(session, supervisor_id)
        if supervisor is None or supervisor.role is not StaffRole.SUPERVISOR or not supervisor.active:
            raise Invalid("supervisor_not_found", "指定的监督员不存在")
        if not supervisor.on_duty or not assign.covers(session, supervisor, case):
            raise Invalid("supervisor_unavailable", "指定的监督员不在岗或不负责该区域")
        return supervisor
    chosen = assign.nearest_supervisor(session, case)
    if chosen is None:
        raise Conflict("no_supervisor_on_duty", "该区域当前没有在岗监督员，请稍后再派发或指定监督员")
    return chosen


def _send_to_supervisor(
    session: Session,
    case: Case,
    actor: StaffUser,
    data: ActionInput,
    *,
    action: Action,
    to: CaseStatus,
    task: str,
) -> Case:
    supervisor = _assign_supervisor(session, case, data.supervisor_id)
    _move(
        session,
        case,
        action=action,
        actor=actor,
        to=to,
        note=data.note or f"派发监督员 {supervisor.display_name} 现场{task}",
        expected_version=data.expected_version,
    )
    case.assigned_supervisor_id = supervisor.id
    flush(session)
    return case


def send_verify(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    return _send_to_supervisor(
        session, case, actor, data, action=Action.SEND_VERIFY, to=CaseStatus.VERIFYING, task="核实"
    )


def verify(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    if data.passed is None:
        raise Invalid("verify_result_required", "请选择核实结果（属实/不属实）")
    result = "核实属实" if data.passed else "核实不属实"
    _move(
        session,
        case,
        action=Action.VERIFY,
        actor=actor,
        to=CaseStatus.ACCEPTED,
        note=f"{result}。{data.note}".strip("。") if data.note else result,
        expected_version=data.expected_version,
    )
    case.assigned_supervisor_id = None
    case.accepted_at = case.accepted_at or utcnow()
    if data.upload_ids:
        attach_photos(session, case, upload_ids=data.upload_ids, owner=actor, stage=PhotoStage.REPORT)
    flush(session)
    return case


def register(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    if data.category_code:
        category = repository.category_by_code(session, data.category_code)
        if category is None or category.level != "minor" or not category.active:
            raise Invalid("unknown_category", f"案件小类“{data.category_code}”不存在")
        assert category.id is not None
        case.category_id = category.id
    if data.register_standard_id is None:
        raise Invalid("register_standard_required", "立案必须选择立案条件")
    standards = {s.id: s for s in repository.standards_of(session, case.category_id)}
    standard = standards.get(data.register_standard_id)
    if standard is None:
        raise Invalid("register_standard_invalid", "所选立案条件不属于该案件小类")
    now = utcnow()
    _move(
        session,
        case,
        action=Action.REGISTER,
        actor=actor,
        to=CaseStatus.REGISTERED,
        note=data.note or f"立案：{standard.condition}",
        expected_version=data.expected_version,
    )
    case.register_standard_id = standard.id
    if data.priority is not None:
        case.priority = data.priority
    case.accepted_at = case.accepted_at or now
    case.registered_at = now
    case.dispatch_due_at = deadlines.work_hours_after(
        session, settings, now, settings.cases.dispatch_limit_work_hours
    )
    case.handle_limit_kind, case.handle_limit_amount = standard.time_limit_kind, standard.time_limit_amount
    # Provisional case deadline: the department's limit counted from the dispatch deadline.
    case.handle_due_at = _provisional_handle_due(session, settings, case)
    rewards.award_for_registration(session, settings, case, now=now)
    _notify(session, case, "case_registered")
    flush(session)
    return case


def void(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    # What the citizen is told is the reason (or an explicit reply), never the internal note.
    public_reason = (data.reply or data.reason).strip()[:MAX_NOTE]
    if not public_reason:
        raise ReasonRequired(Action.VOID.label)
    note = f"{public_reason}（内部备注：{data.note.strip()}）" if data.note.strip() else public_reason
    _move(
        session,
        case,
        action=Action.VOID,
        actor=actor,
        to=CaseStatus.VOIDED,
        note=note[:MAX_NOTE],
        expected_version=data.expected_version,
    )
    case.assigned_supervisor_id = None
    case.reply = public_reason
    rewards.reverse_for_case(session, case)
    _notify(session, case, "case_voided", reason=public_reason)
    flush(session)
    return case


# ---------------------------------------------------------------- dispatch and the department


def suggested_department(session: Session, case: Case) -> tuple[str, str] | None:
    """The routed default department for the case's category and place (offered to dispatchers)."""
    category = repository.category(session, case.category_id)
    if category is None:
        return None
    try:
        location = geo_service.locate(session, lng=case.lng, lat=case.lat, category=category.code)
    except (Invalid, Conflict):
        return None
    return (location.department.code, location.department.name) if location.department else None


def dispatch(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    code = data.department_code
    if not code:
        suggestion = suggested_department(session, case)
        if suggestion is None:
            raise Invalid("department_required", "请选择处置部门（该类别没有默认派遣部门）")
        code = suggestion[0]
    department = repository.department_by_code(session, code)
    if department is None:
        raise Invalid("department_not_found", f"部门“{code}”不存在")
    now = utcnow()
    event = _move(
        session,
        case,
        action=Action.DISPATCH,
        actor=actor,
        to=CaseStatus.DISPATCHED,
        note=data.note or f"派遣至{department.name}",
        expected_version=data.expected_version,
    )
    case.department_id = department.id
    event.department_id = department.id  # the history names who was dispatched to
    case.dispatched_at = now
    _reset_handle_limit(session, case)
    _rearm(case, "handle", "check")
    case.handle_started_at = now
    case.handle_due_at = deadlines.handle_deadline(session, settings, case)
    _notify(session, case, "case_dispatched", department=department.name)
    flush(session)
    return case


def _reset_handle_limit(session: Session, case: Case) -> None:
    """A new handling period starts with the register condition's limit: an extension granted to a
    previous department (or period) does not carry over."""
    standards = {s.id: s for s in repository.standards_of(session, case.category_id)}
    standard = standards.get(case.register_standard_id)
    if standard is not None:
        case.handle_limit_kind, case.handle_limit_amount = (
            standard.time_limit_kind,
            standard.time_limit_amount,
        )


def _rearm(case: Case, *stages: str) -> None:
    """A new period of these stages starts: they may become overdue again (history keeps old marks)."""
    kept = [stage for stage in case.overdue_stages.split(",") if stage and stage not in stages]
    case.overdue_stages = ",".join(kept)


def _await_dispatch(session: Session, settings: Settings, case: Case) -> None:
    """Back in the dispatcher's hands (after a return or a reopen): no department, a new dispatch
    deadline, and the provisional case deadline counted from it; open requests lapse."""
    case.department_id = None
    case.handle_started_at = None
    case.handled_at = None
    case.check_due_at = None
    _reset_handle_limit(session, case)
    _rearm(case, "dispatch", "handle", "check")
    case.dispatch_due_at = deadlines.work_hours_after(
        session, settings, utcnow(), settings.cases.dispatch_limit_work_hours
    )
    case.handle_due_at = _provisional_handle_due(session, settings, case)
    _lapse_requests(session, case)


def _provisional_handle_due(session: Session, settings: Settings, case: Case) -> datetime | None:
    if case.dispatch_due_at is None or case.handle_limit_kind is None or case.handle_limit_amount is None:
        return None
    from core.calendar.service import get_calendar

    return get_calendar(session, settings).add(
        case.dispatch_due_at, case.handle_limit_amount, case.handle_limit_kind
    )


def _lapse_requests(session: Session, case: Case) -> None:
    """Extension and suspension requests end with the handling they were about."""
    assert case.id is not None
    for kind in RequestKind:
        request = repository.pending_request(session, case.id, kind)
        if request is not None:
            request.status, request.decided_at, request.updated_at = RequestStatus.LAPSED, utcnow(), utcnow()
            session.add(request)


def return_case(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    reason = _required_reason(Action.RETURN, data)
    _move(
        session,
        case,
        action=Action.RETURN,
        actor=actor,
        to=CaseStatus.REGISTERED,
        note=reason,
        expected_version=data.expected_version,
    )
    _await_dispatch(session, settings, case)
    flush(session)
    return case


def handle(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    if not data.upload_ids:
        raise PhotosRequired()
    _move(
        session,
        case,
        action=Action.HANDLE,
        actor=actor,
        to=CaseStatus.HANDLED,
        note=data.note or "已处置",
        expected_version=data.expected_version,
    )
    now = utcnow()
    case.handled_at = now
    if data.reply:
        case.reply = data.reply[:MAX_NOTE]
    elif data.note:
        case.reply = data.note[:MAX_NOTE]
    _notify(session, case, "case_handled")
    _lapse_requests(session, case)
    attach_photos(session, case, upload_ids=data.upload_ids, owner=actor, stage=PhotoStage.HANDLING)
    _rearm(case, "check")
    case.check_due_at = deadlines.work_hours_after(
        session, settings, now, settings.cases.check_limit_work_hours
    )
    flush(session)
    # The centre sends it to a supervisor at once when one is on duty; otherwise it waits in "to-check".
    supervisor = assign.nearest_supervisor(session, case)
    if supervisor is not None:
        _system_send_check(session, case, supervisor)
    return case


def _system_send_check(session: Session, case: Case, supervisor: StaffUser) -> None:
    from_status = case.status
    case.status = CaseStatus.CHECKING
    case.assigned_supervisor_id = supervisor.id
    record_event(
        session,
        case,
        action=Action.SEND_CHECK.value,
        actor=None,
        from_status=from_status,
        note=f"系统派发监督员 {supervisor.display_name} 现场核查",
    )
    flush(session)


def send_check(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    return _send_to_supervisor(
        session, case, actor, data, action=Action.SEND_CHECK, to=CaseStatus.CHECKING, task="核查"
    )


def check(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    if data.passed is None:
        raise Invalid("check_result_required", "请选择核查结果（通过/不通过）")
    now = utcnow()
    if data.passed:
        _move(
            session,
            case,
            action=Action.CHECK,
            actor=actor,
            to=CaseStatus.CLOSED,
            note=data.note or "核查通过，结案",
            expected_version=data.expected_version,
        )
        case.closed_at = now
        case.overdue = case.overdue  # an overdue mark stays for the evaluation
        _notify(session, case, "case_closed")
        _notify(session, case, "rating_invited")
    else:
        reason = _required_reason(Action.CHECK, data)
        _move(
            session,
            case,
            action=Action.CHECK,
            actor=actor,
            to=CaseStatus.DISPATCHED,
            note=f"核查不通过，返工：{reason}",
            expected_version=data.expected_version,
        )
        case.handle_started_at = now  # rework gets the department's full limit again
        case.handled_at = None
        case.check_due_at = None
        _reset_handle_limit(session, case)
        _rearm(case, "handle", "check")
        case.handle_due_at = deadlines.handle_deadline(session, settings, case)
    case.assigned_supervisor_id = None
    if data.upload_ids:
        attach_photos(session, case, upload_ids=data.upload_ids, owner=actor, stage=PhotoStage.CHECK)
    flush(session)
    return case


# ---------------------------------------------------------------- extension and suspension


def _new_request(
    session: Session, case: Case, actor: StaffUser, kind: RequestKind, action: Action, data: ActionInput
) -> Case:
    reason = _required_reason(action, data)
    assert case.id is not None
    if repository.pending_request(session, case.id, kind) is not None:
        raise Conflict("request_pending", "已有待审批的申请")
    amount: Decimal | None = None
    if kind is RequestKind.EXTENSION:
        if data.amount is None or not Decimal(0) < data.amount <= Decimal(1000):
            raise Invalid("extension_amount_invalid", "延期时长应大于 0（单位与该案件的处置时限相同）")
        amount = data.amount
    _move(
        session,
        case,
        action=action,
        actor=actor,
        to=case.status,
        note=reason,
        expected_version=data.expected_version,
    )
    assert actor.id is not None
    session.add(
        CaseRequest(case_id=case.id, kind=kind, amount=amount, reason=reason, requested_by_id=actor.id)
    )
    flush(session)
    return case


def _decide(
    session: Session,
    case: Case,
    actor: StaffUser,
    kind: RequestKind,
    action: Action,
    approve: bool,
    to: CaseStatus,
    data: ActionInput,
) -> CaseRequest:
    assert case.id is not None
    request = repository.pending_request(session, case.id, kind)
    if request is None:
        raise Conflict("no_pending_request", "没有待审批的申请")
    note = data.note or ("同意" if approve else "不同意")
    if not approve and not (data.reason or data.note).strip():
        raise ReasonRequired(action.label)
    _move(session, case, action=action, actor=actor, to=to, note=note, expected_version=data.expected_version)
    request.status = RequestStatus.APPROVED if approve else RequestStatus.REJECTED
    request.decided_by_id, request.decided_at, request.updated_at = actor.id, utcnow(), utcnow()
    session.add(request)
    return request


def request_extension(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    return _new_request(session, case, actor, RequestKind.EXTENSION, Action.REQUEST_EXTENSION, data)


def approve_extension(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    request = _decide(
        session, case, actor, RequestKind.EXTENSION, Action.APPROVE_EXTENSION, True, case.status, data
    )
    if request.amount is not None and case.handle_limit_amount is not None:
        case.handle_limit_amount = case.handle_limit_amount + request.amount
        case.handle_due_at = deadlines.handle_deadline(session, settings, case)
    flush(session)
    return case


def reject_extension(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    _decide(session, case, actor, RequestKind.EXTENSION, Action.REJECT_EXTENSION, False, case.status, data)
    flush(session)
    return case


def request_suspension(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    return _new_request(session, case, actor, RequestKind.SUSPENSION, Action.REQUEST_SUSPENSION, data)


def approve_suspension(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    request = _decide(
        session,
        case,
        actor,
        RequestKind.SUSPENSION,
        Action.APPROVE_SUSPENSION,
        True,
        CaseStatus.SUSPENDED,
        data,
    )
    assert case.id is not None
    session.add(CasePause(case_id=case.id, started_at=utcnow(), reason=request.reason))
    flush(session)
    case.handle_due_at = None  # the clock stands still while suspended
    flush(session)
    return case


def reject_suspension(
    session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput
) -> Case:
    _decide(session, case, actor, RequestKind.SUSPENSION, Action.REJECT_SUSPENSION, False, case.status, data)
    flush(session)
    return case


def resume(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    _move(
        session,
        case,
        action=Action.RESUME,
        actor=actor,
        to=CaseStatus.DISPATCHED,
        note=data.note or "恢复处置",
        expected_version=data.expected_version,
    )
    assert case.id is not None
    pause = repository.open_pause(session, case.id)
    if pause is not None:
        pause.ended_at = utcnow()
        session.add(pause)
        flush(session)
    case.handle_due_at = deadlines.handle_deadline(session, settings, case)
    flush(session)
    return case


# ---------------------------------------------------------------- oversight


def urge(
    session: Session, settings: Settings, case: Case, actor: StaffUser | None, data: ActionInput
) -> Case:
    note = data.note.strip() or "请抓紧办理"
    _move(
        session,
        case,
        action=Action.URGE,
        actor=actor,
        to=case.status,
        note=note,
        expected_version=data.expected_version,
    )
    case.urge_count += 1
    flush(session)
    return case


def reopen(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    reason = _required_reason(Action.REOPEN, data)
    _move(
        session,
        case,
        action=Action.REOPEN,
        actor=actor,
        to=CaseStatus.REGISTERED,
        note=reason,
        expected_version=data.expected_version,
    )
    _notify(session, case, "case_reopened")
    case.closed_at = None
    _await_dispatch(session, settings, case)
    flush(session)
    return case


def merge(session: Session, settings: Settings, case: Case, actor: StaffUser, data: ActionInput) -> Case:
    if not data.target_case_no:
        raise Invalid("merge_target_required", "请填写要合并到的案件编号")
    target = get_case(session, data.target_case_no)
    if not may_view(session, actor, target):
        raise CaseNotFound(data.target_case_no)
    if target.id == case.id:
        raise Invalid("merge_into_itself", "不能把案件合并到它自己")
    if target.status not in OPEN_STATUSES:
        raise Invalid(
            "merge_target_closed", f"案件 {target.case_no} 已办结、作废或已被合并，不能作为合并目标"
        )
    _move(
        session,
        case,
        action=Action.MERGE,
        actor=actor,
        to=CaseStatus.MERGED,
        note=data.note or f"与案件 {target.case_no} 重复，已合并",
        expected_version=data.expected_version,
    )
    case.merged_into_id = target.id
    case.assigned_supervisor_id = None
    record_event(
        session,
        target,
        action="merged_in",
        actor=actor,
        from_status=target.status,
        note=f"合并重复案件 {case.case_no}",
    )
    rewards.reverse_for_case(session, case)  # a duplicate earns nothing
    _notify(session, case, "case_merged", target_case_no=target.case_no)
    flush(session)
    return case


HANDLERS = {
    Action.ACCEPT: accept,
    Action.SEND_VERIFY: send_verify,
    Action.VERIFY: verify,
    Action.REGISTER: register,
    Action.VOID: void,
    Action.DISPATCH: dispatch,
    Action.RETURN: return_case,
    Action.HANDLE: handle,
    Action.REQUEST_EXTENSION: request_extension,
    Action.APPROVE_EXTENSION: approve_extension,
    Action.REJECT_EXTENSION: reject_extension,
    Action.REQUEST_SUSPENSION: request_suspension,
    Action.APPROVE_SUSPENSION: approve_suspension,
    Action.REJECT_SUSPENSION: reject_suspension,
    Action.RESUME: resume,
    Action.SEND_CHECK: send_check,
    Action.CHECK: check,
    Action.URGE: urge,
    Action.REOPEN: reopen,
    Action.MERGE: merge,
}


def perform(
    session: Session, settings: Settings, *, case_no: str, actor: StaffUser, action: Action, data: ActionInput
) -> Case:
    """The one entry point the staff API uses: look the case up and apply the action."""
    with conflicts_as_409():
        case = get_case(session, case_no)
        _check_allowed(session, case, action, actor)  # state, then role — before any input checks
        result = HANDLERS[action](session, settings, case, actor, data)
        session.flush()
        return result
