"""Building the citizen and staff views of a case.

The citizen view speaks plain Chinese (已受理/已立案/处置中/已办结…) and never shows staff names,
phone numbers, internal notes or other reporters.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from core.cases import abuse, repository
from core.cases.access import may
from core.cases.schemas import (
    CategoryNode,
    CitizenCaseSummary,
    CitizenCaseView,
    HistoryEntry,
    NamedRef,
    PhotoRef,
    RequestView,
    StaffCaseSummary,
    StaffCaseView,
    StandardView,
    TimelineEntry,
)
from core.cases.service import suggested_department
from core.cases.workflow import ACTION_LABELS, STATUS_LABELS, Action
from core.kit.clock import utcnow
from core.models import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseStatus,
    Category,
    Department,
    PhotoStage,
    RegisterStandard,
    StaffUser,
)
from core.settings import Settings

EVENT_LABELS: dict[str, str] = {
    **{action.value: label for action, label in ACTION_LABELS.items()},
    "report": "上报",
    "rate": "评价",
    "overdue": "超期",
    "merged_in": "合并",
    "follow": "市民关注",
}

CITIZEN_STATUS: dict[CaseStatus, str] = {
    CaseStatus.PENDING: "已受理",
    CaseStatus.VERIFYING: "已受理",
    CaseStatus.ACCEPTED: "已受理",
    CaseStatus.REGISTERED: "已立案",
    CaseStatus.DISPATCHED: "处置中",
    CaseStatus.SUSPENDED: "处置中",
    CaseStatus.HANDLED: "处置中",
    CaseStatus.CHECKING: "处置中",
    CaseStatus.CLOSED: "已办结",
    CaseStatus.VOIDED: "不予立案",
    CaseStatus.MERGED: "已合并办理",
}


def _citizen_step(session: Session, case: Case, event: CaseEvent) -> TimelineEntry | None:
    """One history row in plain Chinese for the reporter; internal rows (and notes) are left out."""
    action, to = event.action, event.to_status
    text: str | None = None
    step = CITIZEN_STATUS[to]
    if action == "report":
        step, text = "已提交", "您反映的问题已提交，等待受理"
    elif action == Action.ACCEPT:
        text = "您反映的问题已受理"
    elif action == Action.SEND_VERIFY:
        text = "工作人员将到现场核实"
    elif action == Action.REGISTER:
        text = "经核实，问题已立案"
    elif action == Action.VOID:
        text = f"不予立案：{case.reply}" if case.reply else "不予立案"
    elif action == Action.DISPATCH:
        department = repository.department(session, event.department_id)
        text = f"已交由{department.name}处理" if department else "已交由处置单位处理"
    elif action == Action.HANDLE:
        text = "处置单位已处理，等待核查"
    elif action == Action.CHECK and to is CaseStatus.CLOSED:
        text = "经现场核查，问题已解决，案件办结"
    elif action == Action.CHECK:
        text = "核查未通过，已要求处置单位重新处理"
    elif action == Action.APPROVE_SUSPENSION:
        text = "因客观原因暂缓处理，条件具备后将继续处理"
    elif action == Action.RESUME:
        text = "恢复处理"
    elif action == Action.REOPEN:
        text = "案件重新办理"
    elif action == Action.MERGE:
        text = "与相同问题的案件合并办理"
    elif action == "rate":
        step, text = "已评价", "感谢您的评价"
    if text is None:
        return None
    return TimelineEntry(at=event.created_at, step=step, text=text)


def _photo_refs(session: Session, case: Case, photos: Iterable[CasePhoto] | None = None) -> list[PhotoRef]:
    assert case.id is not None
    if photos is None:
        photos = [photo for photo, _ in repository.photos(session, case.id)]
    return [PhotoRef(upload_id=photo.upload_id, stage=photo.stage.value) for photo in photos]


def _of_stage(photos: list[PhotoRef], stage: PhotoStage) -> list[PhotoRef]:
    return [photo for photo in photos if photo.stage == stage.value]


def _category_name(session: Session, case: Case) -> str:
    category = repository.category(session, case.category_id)
    return category.name if category else ""


def citizen_summary(session: Session, case: Case, *, category: Category | None = None) -> CitizenCaseSummary:
    category = category or repository.category(session, case.category_id)
    return CitizenCaseSummary(
        case_no=case.case_no,
        status=CITIZEN_STATUS[case.status],
        category=category.name if category else "",
        description=case.description,
        address=case.address,
        reported_at=case.created_at,
    )


def citizen_summaries(session: Session, cases: list[Case]) -> list[CitizenCaseSummary]:
    """A page of summaries with one query for all their categories."""
    categories = repository.categories_by_ids(session, {case.category_id for case in cases})
    return [citizen_summary(session, case, category=categories.get(case.category_id)) for case in cases]


def citizen_view(
    session: Session,
    settings: Settings,
    case: Case,
    *,
    category: Category | None = None,
    events: Iterable[CaseEvent] | None = None,
    photos: Iterable[CasePhoto] | None = None,
) -> CitizenCaseView:
    """The reporter's view of a case. ``category``, ``events`` (its whole history, oldest first) and
    ``photos`` (all of its photos, oldest first) are read from the database unless the caller already
    holds them, e.g. for a case it has just created (``intake.FiledReport``)."""
    assert case.id is not None
    if events is None:
        events = repository.events(session, case.id)
    timeline = [entry for event in events if (entry := _citizen_step(session, case, event))]
    closed = case.status is CaseStatus.CLOSED and case.closed_at is not None
    window_open = (
        closed
        and case.closed_at is not None
        and ((utcnow() - case.closed_at).days <= settings.cases.rating_window_days)
    )
    photo_refs = _photo_refs(session, case, photos)
    return CitizenCaseView(
        **citizen_summary(session, case, category=category).model_dump(),
        timeline=timeline,
        report_photos=_of_stage(photo_refs, PhotoStage.REPORT),
        handling_photos=_of_stage(photo_refs, PhotoStage.HANDLING) if case.handled_at or closed else [],
        reply=case.reply if case.status in {CaseStatus.CLOSED, CaseStatus.VOIDED} and case.reply else None,
        can_rate=bool(window_open and case.rating is None),
        rating=case.rating,
        rating_comment=case.rating_comment or None,
    )


def _standard_view(standard: RegisterStandard) -> StandardView:
    assert standard.id is not None
    return StandardView(
        id=standard.id,
        seq=standard.seq,
        condition=standard.condition,
        time_limit_kind=standard.time_limit_kind.value,
        time_limit_label=standard.time_limit_kind.label,
        time_limit_amount=str(standard.time_limit_amount.normalize()),
        close_condition=standard.close_condition,
    )


def staff_summary(
    session: Session,
    case: Case,
    *,
    category: Category | None = None,
    department: Department | None = None,
    followers: int | None = None,
) -> StaffCaseSummary:
    category = category or repository.category(session, case.category_id)
    department = department or repository.department(session, case.department_id)
    names = _area_names(session, case)
    return StaffCaseSummary(
        case_no=case.case_no,
        status=case.status.value,
        status_label=STATUS_LABELS[case.status],
        channel=case.channel.value,
        priority=case.priority.value,
        category=NamedRef(
            id=case.category_id,
            code=category.code if category else None,
            name=category.name if category else "",
        ),
        description=case.description,
        address=case.address,
        street=names.get(case.street_code, ""),
        community=names.get(case.community_code, ""),
        department=NamedRef(id=department.id, code=department.code, name=department.name)
        if department
        else None,
        reported_at=case.created_at,
        handle_due_at=case.handle_due_at,
        overdue=case.overdue,
        follower_count=followers
        if followers is not None
        else repository.follower_count(session, case.id or 0),
        version=case.version,
    )


def staff_summaries(session: Session, cases: list[Case]) -> list[StaffCaseSummary]:
    """A page of summaries with one query each for all their categories and departments."""
    categories = repository.categories_by_ids(session, {case.category_id for case in cases})
    departments = repository.departments_by_ids(
        session, {case.department_id for case in cases if case.department_id is not None}
    )
    followers = repository.follower_counts(session, {case.id for case in cases if case.id is not None})
    return [
        staff_summary(
            session,
            case,
            category=categories.get(case.category_id),
            department=departments.get(case.department_id) if case.department_id is not None else None,
            followers=followers.get(case.id or 0, 0),
        )
        for case in cases
    ]


def _area_names(session: Session, case: Case) -> dict[str, str]:
    from core.geo import service as geo_service

    try:
        names = geo_service.get_context(session).area_names
    except Exception:
        return {}
    return {code: names.get(code, "") for code in (case.street_code, case.community_code)}


def _actor_name(session: Session, event: CaseEvent) -> str | None:
    if event.actor_kind == "staff":
        staff = repository.staff(session, event.actor_id)
        return staff.display_name if staff else None
    if event.actor_kind == "citizen":
        return "市民"
    return "系统"


def staff_view(session: Session, settings: Settings, case: Case, viewer: StaffUser) -> StaffCaseView:
    assert case.id is not None
    standards = repository.standards_of(session, case.category_id)
    current = next((s for s in standards if s.id == case.register_standard_id), None)
    supervisor = repository.staff(session, case.assigned_supervisor_id)
    suggestion = suggested_department(session, case) if case.status is CaseStatus.REGISTERED else None
    reporter_staff = repository.staff(session, case.reporter_staff_id)
    reporter = (
        f"监督员 {reporter_staff.display_name}"
        if reporter_staff
        else ("匿名市民" if case.is_anonymous else "市民")
    )
    history = [
        HistoryEntry(
            at=event.created_at,
            action=event.action,
            action_label=EVENT_LABELS.get(event.action, event.action),
            actor_kind=event.actor_kind.value,
            actor_role=event.actor_role,
            actor_name=_actor_name(session, event),
            from_status=event.from_status.value if event.from_status else None,
            to_status=event.to_status.value,
            note=event.note,
        )
        for event in repository.events(session, case.id)
    ]
    return StaffCaseView(
        **staff_summary(session, case).model_dump(),
        lng=case.lng,
        lat=case.lat,
        unit_grid_code=case.unit_grid_code,
        responsibility_grid_code=case.responsibility_grid_code,
        reporter=reporter,
        reporter_phone=case.reporter_phone or None,
        reporter_flags=abuse.reporter_flags(session, settings, case),
        is_anonymous=case.is_anonymous,
        is_public=case.is_public,
        register_standard=_standard_view(current) if current else None,
        standards=[_standard_view(s) for s in standards],
        suggested_department=NamedRef(code=suggestion[0], name=suggestion[1]) if suggestion else None,
        assigned_supervisor=NamedRef(id=supervisor.id, name=supervisor.display_name) if supervisor else None,
        register_due_at=case.register_due_at,
        dispatch_due_at=case.dispatch_due_at,
        check_due_at=case.check_due_at,
        overdue_stages=[stage for stage in case.overdue_stages.split(",") if stage],
        urge_count=case.urge_count,
        reply=case.reply,
        rating=case.rating,
        rating_comment=case.rating_comment,
        photos=_photo_refs(session, case),
        requests=[
            RequestView(
                kind=r.kind.value,
                status=r.status.value,
                amount=str(r.amount) if r.amount else None,
                reason=r.reason,
                requested_at=r.created_at,
            )
            for r in repository.requests(session, case.id)
        ],
        history=history,
        allowed_actions=[
            action.value
            for action in Action
            if case.status in _sources(action) and may(session, viewer, case, action)
        ],
    )


def _sources(action: Action) -> frozenset[CaseStatus]:
    from core.cases.workflow import RULES

    return RULES[action].sources


def category_tree(session: Session) -> list[CategoryNode]:
    """Majors with their minors; a minor's hints are its register conditions (what counts as a case)."""
    categories = repository.all_categories(session)
    hints: dict[int, list[str]] = {}
    for standard in repository.all_standards(session):
        hints.setdefault(standard.category_id, []).append(standard.condition)
    majors: dict[int, CategoryNode] = {}
    minors: list[Category] = []
    for category in categories:
        if category.level == "major":
            assert category.id is not None
            majors[category.id] = CategoryNode(
                code=category.code, name=category.name, kind=category.kind.value
            )
        else:
            minors.append(category)
    for minor in minors:
        parent = majors.get(minor.parent_id or -1)
        if parent is not None:
            parent.children.append(
                CategoryNode(
                    code=minor.code,
                    name=minor.name,
                    kind=minor.kind.value,
                    hints=hints.get(minor.id or -1, []),
                )
            )
    return list(majors.values())
