"""The seven-step story at service level, deadlines on the working-time calendar, suspension,
extension, the SLA job, merging, and the history written by every move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from core.calendar.service import get_calendar
from core.cases import deadlines, intake, repository, sla
from core.cases.errors import ConcurrentUpdate, IllegalTransition, PhotosRequired, ReasonRequired
from core.cases.service import ActionInput, perform
from core.cases.workflow import Action
from core.errors import Conflict, Invalid
from core.geo.coords import CoordSystem
from core.geo.errors import OutsideServiceArea
from core.kit.workcal import LimitKind
from core.models import CaseStatus, OutboxMessage, StaffRole
from tests.core.cases.conftest import MakeCase
from tests.fixtures.cases import City


def act(city: City, case_no: str, role: StaffRole, action: Action, **data: object) -> object:
    actor = city.staff[role]
    return perform(
        city.session, city.settings, case_no=case_no, actor=actor, action=action, data=ActionInput(**data)
    )  # type: ignore[arg-type]


def report(city: City, **overrides: object) -> str:
    citizen = city.citizen()
    lng, lat = city.point(1, 1)
    data = intake.ReportInput(
        category_code="BJ0101",
        description="人行道井盖缺失，夜里很危险",
        lng=lng,
        lat=lat,
        coord=CoordSystem.WGS84,
        address="劳动北路 88 号",
        upload_ids=(city.upload(citizen),),
    )
    case, created = intake.report_by_citizen(
        city.session, city.settings, citizen=citizen, data=data, idempotency_key=None
    )
    assert created
    return case.case_no


def test_the_whole_story(session: Session, city: City) -> None:
    case_no = report(city)
    case = repository.by_case_no(session, case_no)
    assert case is not None
    assert case.status is CaseStatus.PENDING
    assert case.unit_grid_code == f"{city.community.code}004"
    assert case.register_due_at is not None

    act(city, case_no, StaffRole.OPERATOR, Action.SEND_VERIFY)
    assert case.status is CaseStatus.VERIFYING
    assert case.assigned_supervisor_id == city.staff[StaffRole.SUPERVISOR].id
    act(city, case_no, StaffRole.SUPERVISOR, Action.VERIFY, passed=True, note="现场确认")
    assert case.status is CaseStatus.ACCEPTED
    act(city, case_no, StaffRole.OPERATOR, Action.REGISTER, register_standard_id=city.manhole_urgent.id)
    assert case.status is CaseStatus.REGISTERED
    assert case.handle_limit_kind is LimitKind.URGENT_HOURS
    act(city, case_no, StaffRole.DISPATCHER, Action.DISPATCH)  # routed default: 市政
    assert case.department_id == city.municipal.id
    assert case.handle_due_at == case.handle_started_at + timedelta(hours=2)  # type: ignore[operator]

    handler = city.staff[StaffRole.HANDLER]
    act(
        city,
        case_no,
        StaffRole.HANDLER,
        Action.HANDLE,
        upload_ids=(city.upload(handler),),
        reply="已更换井盖",
    )
    assert case.status is CaseStatus.CHECKING  # a supervisor is on duty: sent to check at once
    act(city, case_no, StaffRole.SUPERVISOR, Action.CHECK, passed=False, reason="井盖未固定")
    assert case.status is CaseStatus.DISPATCHED  # rework
    act(
        city,
        case_no,
        StaffRole.HANDLER,
        Action.HANDLE,
        upload_ids=(city.upload(handler),),
        reply="已固定井盖",
    )
    act(city, case_no, StaffRole.SUPERVISOR, Action.CHECK, passed=True)
    assert case.status is CaseStatus.CLOSED
    assert case.closed_at is not None

    assert case.id is not None
    actions = [event.action for event in repository.events(session, case.id)]
    assert actions == [
        "report",
        "send_verify",
        "verify",
        "register",
        "dispatch",
        "handle",
        "send_check",
        "check",
        "handle",
        "send_check",
        "check",
    ]
    events = set(session.exec(select(OutboxMessage.event).where(col(OutboxMessage.case_id) == case.id)).all())
    assert events == {"case_registered", "case_dispatched", "case_handled", "case_closed", "rating_invited"}

    rated = intake.rate(
        session,
        city.settings,
        citizen=session.get(type(city.citizen()), case.reporter_citizen_id),  # type: ignore[arg-type]
        case_no=case_no,
        stars=5,
        comment="很快",
    )
    assert rated.rating == 5
    with pytest.raises(Conflict):
        intake.rate(
            session,
            city.settings,
            citizen=session.get(type(city.citizen()), case.reporter_citizen_id),  # type: ignore[arg-type]
            case_no=case_no,
            stars=4,
            comment="",
        )


def test_void_and_return_need_a_reason(session: Session, city: City, make_case: MakeCase) -> None:
    with pytest.raises(ReasonRequired):
        act(city, make_case(CaseStatus.PENDING).case_no, StaffRole.OPERATOR, Action.VOID)
    with pytest.raises(ReasonRequired):
        act(city, make_case(CaseStatus.DISPATCHED).case_no, StaffRole.HANDLER, Action.RETURN)
    case = make_case(CaseStatus.DISPATCHED)
    act(city, case.case_no, StaffRole.HANDLER, Action.RETURN, reason="不属于本单位职责")
    assert case.status is CaseStatus.REGISTERED
    assert case.department_id is None


def test_handle_needs_photos(session: Session, city: City, make_case: MakeCase) -> None:
    with pytest.raises(PhotosRequired):
        act(city, make_case(CaseStatus.DISPATCHED).case_no, StaffRole.HANDLER, Action.HANDLE)


def test_register_needs_a_condition_of_the_category(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.ACCEPTED)
    with pytest.raises(Invalid, match="立案条件"):
        act(city, case.case_no, StaffRole.OPERATOR, Action.REGISTER)
    with pytest.raises(Invalid) as info:
        act(city, case.case_no, StaffRole.OPERATOR, Action.REGISTER, register_standard_id=city.rubbish_std.id)
    assert info.value.code == "register_standard_invalid"


def test_handling_deadline_crosses_national_day(session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.handle_started_at = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wed 10:00 in Shanghai
    case.handle_limit_kind, case.handle_limit_amount = LimitKind.WORK_DAYS, Decimal(2)
    due = deadlines.handle_deadline(session, city.settings, case)
    assert due is not None
    calendar = get_calendar(session)
    # Oct 1–7 are holidays, so two working days run into Oct 9 (Oct 8 is the first working day after).
    assert due.astimezone(calendar.hours.tz).date().isoformat() == "2026-10-09"
    assert calendar.elapsed_amount(case.handle_started_at, due, LimitKind.WORK_DAYS) == 2.0


def test_suspension_stops_the_clock_and_resume_moves_the_deadline(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.handle_due_at = deadlines.handle_deadline(session, city.settings, case)
    before = case.handle_due_at
    act(city, case.case_no, StaffRole.HANDLER, Action.REQUEST_SUSPENSION, reason="需等待管线单位施工")
    with pytest.raises(Conflict):
        act(city, case.case_no, StaffRole.HANDLER, Action.REQUEST_SUSPENSION, reason="再次申请")
    act(city, case.case_no, StaffRole.DISPATCHER, Action.APPROVE_SUSPENSION)
    assert case.status is CaseStatus.SUSPENDED
    assert case.handle_due_at is None
    act(city, case.case_no, StaffRole.DISPATCHER, Action.RESUME)
    assert case.status is CaseStatus.DISPATCHED
    assert case.handle_due_at is not None
    assert before is not None
    assert case.handle_due_at >= before


def test_approved_extension_moves_the_deadline(session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.handle_due_at = deadlines.handle_deadline(session, city.settings, case)
    before = case.handle_due_at
    act(city, case.case_no, StaffRole.HANDLER, Action.REQUEST_EXTENSION, reason="材料未到", amount=Decimal(1))
    act(city, case.case_no, StaffRole.DISPATCHER, Action.APPROVE_EXTENSION)
    assert case.handle_limit_amount == Decimal(3)
    assert before is not None
    assert case.handle_due_at is not None
    assert case.handle_due_at > before
    with pytest.raises(Conflict, match="没有待审批"):
        act(city, case.case_no, StaffRole.DISPATCHER, Action.APPROVE_EXTENSION)


def test_overdue_marking_and_auto_urge_are_idempotent(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.handle_due_at = deadlines.handle_deadline(session, city.settings, case)
    assert case.handle_due_at is not None
    soon = case.handle_due_at - timedelta(minutes=10)
    assert sla.urge_due_soon(session, city.settings, now=soon) == [case.case_no]
    assert sla.urge_due_soon(session, city.settings, now=soon) == []
    later = case.handle_due_at + timedelta(hours=1)
    assert case.case_no in sla.mark_overdue(session, city.settings, now=later)
    assert case.overdue
    assert case.overdue_stages == "handle"
    assert case.case_no not in sla.mark_overdue(session, city.settings, now=later)


def test_merge_into_another_case(session: Session, city: City, make_case: MakeCase) -> None:
    first, duplicate = make_case(CaseStatus.REGISTERED), make_case(CaseStatus.PENDING)
    act(city, duplicate.case_no, StaffRole.OPERATOR, Action.MERGE, target_case_no=first.case_no)
    assert duplicate.status is CaseStatus.MERGED
    assert duplicate.merged_into_id == first.id
    with pytest.raises(Invalid):
        act(
            city,
            make_case(CaseStatus.PENDING).case_no,
            StaffRole.OPERATOR,
            Action.MERGE,
            target_case_no=duplicate.case_no,
        )


def test_stale_version_is_a_conflict(session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.REGISTERED)
    with pytest.raises(ConcurrentUpdate):
        act(city, case.case_no, StaffRole.DISPATCHER, Action.DISPATCH, expected_version=case.version + 1)


def test_report_outside_the_city_is_refused(session: Session, city: City) -> None:
    citizen = city.citizen()
    data = intake.ReportInput(category_code="BJ0101", description="井盖缺失很危险", lng=116.4, lat=39.9)
    with pytest.raises(OutsideServiceArea):
        intake.report_by_citizen(session, city.settings, citizen=citizen, data=data, idempotency_key=None)


def test_idempotent_report_returns_the_same_case(session: Session, city: City) -> None:
    citizen = city.citizen()
    lng, lat = city.point()
    data = intake.ReportInput(category_code="SJ0102", description="路边垃圾堆积多日", lng=lng, lat=lat)
    first, created = intake.report_by_citizen(
        session, city.settings, citizen=citizen, data=data, idempotency_key="retry-key-0001"
    )
    again, created_again = intake.report_by_citizen(
        session, city.settings, citizen=citizen, data=data, idempotency_key="retry-key-0001"
    )
    assert created
    assert not created_again
    assert again.id == first.id


def test_case_numbers_are_unique_per_day_and_channel(session: Session, city: City) -> None:
    numbers = {report(city) for _ in range(3)}
    assert len(numbers) == 3
    assert all(number[8:10] == "WX" for number in numbers)


def test_a_return_lapses_open_requests_and_resets_deadlines(
    session: Session, city: City, make_case: MakeCase
) -> None:
    from core.models import CaseRequest, RequestStatus

    case = make_case(CaseStatus.DISPATCHED)
    act(city, case.case_no, StaffRole.HANDLER, Action.REQUEST_EXTENSION, reason="材料未到", amount=Decimal(1))
    act(city, case.case_no, StaffRole.HANDLER, Action.RETURN, reason="不属于本单位职责")
    request = session.exec(select(CaseRequest).where(col(CaseRequest.case_id) == case.id)).one()
    assert request.status is RequestStatus.LAPSED
    assert case.dispatch_due_at is not None
    assert case.handle_due_at is not None
    assert case.handle_due_at > case.dispatch_due_at
    with pytest.raises(IllegalTransition):  # the state is checked before anything else
        act(city, case.case_no, StaffRole.DISPATCHER, Action.APPROVE_EXTENSION)
    with pytest.raises(IllegalTransition):  # not "reason required": the move itself is illegal
        act(city, case.case_no, StaffRole.OPERATOR, Action.VOID)


def test_the_citizen_hears_the_void_reason_never_the_internal_note(
    session: Session, city: City, make_case: MakeCase
) -> None:
    from core.cases.views import citizen_view

    case = make_case(CaseStatus.PENDING)
    with pytest.raises(ReasonRequired):  # a note alone is internal: no reason for the citizen
        act(city, case.case_no, StaffRole.OPERATOR, Action.VOID, note="内部：王科长 13912345678")
    act(
        city,
        case.case_no,
        StaffRole.OPERATOR,
        Action.VOID,
        reason="经核实不属于城市管理范围",
        note="内部：王科长 13912345678",
    )
    view = citizen_view(session, city.settings, case).model_dump_json()
    assert "不属于城市管理范围" in view
    assert "13912345678" not in view
    assert "王科长" not in view


def test_merge_only_into_an_open_case(session: Session, city: City, make_case: MakeCase) -> None:
    closed = make_case(CaseStatus.CLOSED)
    with pytest.raises(Invalid) as info:
        act(
            city,
            make_case(CaseStatus.PENDING).case_no,
            StaffRole.OPERATOR,
            Action.MERGE,
            target_case_no=closed.case_no,
        )
    assert info.value.code == "merge_target_closed"


def test_an_extension_does_not_follow_the_case_to_the_next_department(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    act(city, case.case_no, StaffRole.HANDLER, Action.REQUEST_EXTENSION, reason="材料未到", amount=Decimal(5))
    act(city, case.case_no, StaffRole.DISPATCHER, Action.APPROVE_EXTENSION)
    assert case.handle_limit_amount == Decimal(7)
    act(city, case.case_no, StaffRole.HANDLER, Action.RETURN, reason="不属于本单位职责")
    act(city, case.case_no, StaffRole.DISPATCHER, Action.DISPATCH, department_code=city.sanitation.code)
    assert case.handle_limit_amount == city.manhole_loose.time_limit_amount


def test_rework_can_become_overdue_again(session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.handle_due_at = deadlines.handle_deadline(session, city.settings, case)
    assert case.handle_due_at is not None
    sla.mark_overdue(session, city.settings, now=case.handle_due_at + timedelta(hours=1))
    assert case.overdue_stages == "handle"
    handler = city.staff[StaffRole.HANDLER]
    act(city, case.case_no, StaffRole.HANDLER, Action.HANDLE, upload_ids=(city.upload(handler),))
    act(city, case.case_no, StaffRole.SUPERVISOR, Action.CHECK, passed=False, reason="未修好")
    assert case.overdue_stages == ""
    assert case.handle_due_at is not None
    assert case.case_no in sla.mark_overdue(
        session, city.settings, now=case.handle_due_at + timedelta(hours=1)
    )
    assert case.overdue_stages == "handle"


def test_a_chosen_supervisor_must_be_on_duty(session: Session, city: City, make_case: MakeCase) -> None:
    off_duty = city.staff_member(StaffRole.SUPERVISOR)
    with pytest.raises(Invalid) as info:
        act(
            city,
            make_case(CaseStatus.PENDING).case_no,
            StaffRole.OPERATOR,
            Action.SEND_VERIFY,
            supervisor_id=off_duty.id,
        )
    assert info.value.code == "supervisor_unavailable"


def test_an_idempotency_key_reused_for_another_report_is_refused(session: Session, city: City) -> None:
    citizen = city.citizen()
    lng, lat = city.point()
    first = intake.ReportInput(category_code="SJ0102", description="路边垃圾堆积多日", lng=lng, lat=lat)
    other = intake.ReportInput(category_code="BJ0101", description="井盖缺失很危险", lng=lng, lat=lat)
    intake.report_by_citizen(
        session, city.settings, citizen=citizen, data=first, idempotency_key="key-reused-01"
    )
    with pytest.raises(Invalid) as info:
        intake.report_by_citizen(
            session, city.settings, citizen=citizen, data=other, idempotency_key="key-reused-01"
        )
    assert info.value.code == "idempotency_key_reused"


def test_the_overdue_queue_lists_open_cases_the_user_can_act_on(
    session: Session, city: City, make_case: MakeCase
) -> None:
    from core.cases.queues import Queue, list_queue

    pending, dispatched, closed = (
        make_case(status) for status in (CaseStatus.PENDING, CaseStatus.DISPATCHED, CaseStatus.CLOSED)
    )
    for case in (pending, dispatched, closed):
        case.overdue = True
        session.add(case)
    session.flush()

    def overdue(role: StaffRole) -> set[str]:
        cases, _ = list_queue(session, city.staff[role], Queue.OVERDUE, limit=50, offset=0)
        return {case.case_no for case in cases}

    assert overdue(StaffRole.OPERATOR) == {pending.case_no}
    assert overdue(StaffRole.HANDLER) == {dispatched.case_no}
    assert overdue(StaffRole.LEADER) == {pending.case_no, dispatched.case_no}
    assert closed.case_no not in overdue(StaffRole.SHIFT_LEAD)
