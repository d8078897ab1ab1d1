"""Staff API (城管通 for supervisors, 处置通 for department handlers, the centre's clients)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import SessionDep, SettingsDep, StaffDep
from api.errors import AUTH_RESPONSES, BODY_RESPONSES, PROBLEM_RESPONSES, problem_responses
from api.routes.reports import CaseNo, Page, ReportBody
from core.audit.cases import record_case_action
from core.cases import intake
from core.cases.access import may_view
from core.cases.errors import CaseNotFound
from core.cases.queues import Queue, list_queue
from core.cases.schemas import StaffCaseSummary, StaffCaseView
from core.cases.service import ActionInput, get_case, perform
from core.cases.views import staff_summaries, staff_view
from core.cases.workflow import Action
from core.kit.text import CODE_PATTERN, CleanStr, DbId
from core.models import Priority
from core.staff import service as staff_service

router = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


class ActionBody(BaseModel):
    note: CleanStr = Field(default="", max_length=1000)
    reason: CleanStr = Field(default="", max_length=1000)
    reply: CleanStr = Field(default="", max_length=1000, description="给市民的答复")
    department: str | None = Field(
        default=None, max_length=32, description="派遣部门编码；缺省为系统推荐部门"
    )
    register_standard_id: DbId | None = None
    category: str | None = Field(default=None, pattern=CODE_PATTERN, description="立案时可更正小类")
    priority: Priority | None = None
    upload_ids: list[Annotated[str, Field(pattern=CODE_PATTERN)]] = Field(default_factory=list, max_length=9)
    amount: Decimal | None = Field(default=None, gt=0, le=1000, max_digits=8, decimal_places=2)
    passed: bool | None = Field(default=None, description="核实/核查结果")
    target_case_no: str | None = Field(default=None, pattern=CODE_PATTERN)
    supervisor_id: DbId | None = None
    version: DbId | None = Field(default=None, description="乐观锁：客户端看到的案件版本")


class DutyBody(BaseModel):
    on_duty: bool
    lng: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)


@router.get("/cases", response_model=Page[StaffCaseSummary], summary="工作队列")
def cases(
    session: SessionDep,
    staff: StaffDep,
    queue: Queue = Queue.ALL,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Page[StaffCaseSummary]:
    rows, total = list_queue(session, staff, queue, limit=limit, offset=offset)
    return Page(items=staff_summaries(session, rows), total=total)


@router.get(
    "/cases/{case_no}",
    response_model=StaffCaseView,
    summary="案件详情与历史",
    responses=problem_responses(404),
)
def case_detail(
    case_no: CaseNo, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> StaffCaseView:
    case = get_case(session, case_no)
    if not may_view(session, staff, case):
        raise CaseNotFound(case_no)
    return staff_view(session, settings, case, staff)


@router.post(
    "/cases/{case_no}/actions/{action}",
    response_model=StaffCaseView,
    summary="办理案件",
    responses={**BODY_RESPONSES, **problem_responses(404, 409)},
)
def act(
    case_no: CaseNo,
    action: Action,
    body: ActionBody,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: StaffDep,
) -> StaffCaseView:
    data = ActionInput(
        note=body.note,
        reason=body.reason,
        reply=body.reply,
        department_code=body.department,
        register_standard_id=body.register_standard_id,
        category_code=body.category,
        priority=body.priority,
        upload_ids=tuple(body.upload_ids),
        amount=body.amount,
        passed=body.passed,
        target_case_no=body.target_case_no,
        supervisor_id=body.supervisor_id,
        expected_version=body.version,
    )
    case = perform(session, settings, case_no=case_no, actor=staff, action=action, data=data)
    record_case_action(
        session,
        actor=staff,
        action=action.value,
        case_no=case.case_no,
        via="api",
        client_ip=request.client.host if request.client else "",
        detail={"status": case.status.value},
    )
    return staff_view(session, settings, case, staff)


@router.post(
    "/reports", response_model=StaffCaseView, status_code=201, summary="监督员上报", responses=BODY_RESPONSES
)
def supervisor_report(
    body: ReportBody, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> StaffCaseView:
    data = intake.ReportInput(
        category_code=body.category,
        description=body.description,
        lng=body.lng,
        lat=body.lat,
        coord=body.coord,
        address=body.address,
        upload_ids=tuple(body.upload_ids),
    )
    case = intake.report_by_supervisor(session, settings, supervisor=staff, data=data)
    return staff_view(session, settings, case, staff)


@router.put("/me/duty", summary="上下岗与位置（监督员）", responses=BODY_RESPONSES)
def duty(body: DutyBody, session: SessionDep, staff: StaffDep) -> dict[str, bool]:
    staff_service.set_duty(session, staff, on_duty=body.on_duty, lng=body.lng, lat=body.lat)
    return {"on_duty": body.on_duty}
