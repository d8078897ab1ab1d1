"""Citizen API: categories, reporting a problem, following one's reports, rating the result."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel, Field

from api.deps import CitizenDep, SessionDep, SettingsDep
from api.errors import AUTH_RESPONSES, BODY_RESPONSES, PROBLEM_RESPONSES, problem_responses
from core.cases import follow, intake, repository
from core.cases.errors import CaseNotFound
from core.cases.schemas import CategoryNode, CitizenCaseSummary, CitizenCaseView
from core.cases.service import get_case
from core.cases.views import category_tree, citizen_summaries, citizen_view
from core.geo.coords import CoordSystem
from core.kit.text import CODE_PATTERN, CleanStr
from core.models import Channel

router = APIRouter(prefix="/api/v1", tags=["citizen"], responses=PROBLEM_RESPONSES)

T = TypeVar("T")
CaseNo = Annotated[str, Path(pattern=CODE_PATTERN, description="案件编号")]

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_\-:.]{8,64}$"


class ReportBody(BaseModel):
    category: CleanStr = Field(max_length=16, description="案件小类编码，如 BJ0101")
    description: CleanStr = Field(max_length=2000)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    coord: CoordSystem = CoordSystem.GCJ02
    address: CleanStr = Field(default="", max_length=256)
    upload_ids: list[Annotated[str, Field(pattern=CODE_PATTERN)]] = Field(default_factory=list, max_length=9)
    anonymous: bool = False
    public: bool = True
    channel: Literal["miniprogram", "app", "web"] = "miniprogram"


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class RatingBody(BaseModel):
    stars: int = Field(ge=1, le=5)
    comment: CleanStr = Field(default="", max_length=500)


@router.get("/categories", response_model=list[CategoryNode], summary="案件类别（含立案条件提示）")
def categories(session: SessionDep) -> list[CategoryNode]:
    return category_tree(session)


@router.post(
    "/reports",
    response_model=CitizenCaseView,
    status_code=201,
    summary="上报问题",
    responses={
        200: {"model": CitizenCaseView, "description": "同一 Idempotency-Key 的重试：已有的上报"},
        **BODY_RESPONSES,
        **AUTH_RESPONSES,
        **problem_responses(429),
    },
)
def report(
    body: ReportBody,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    citizen: CitizenDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN, description="重试时保持不变"),
    ] = None,
    device_id: Annotated[
        str | None,
        # Checked by the service (its own problem code invalid_device_id); only a keyed hash is stored.
        Header(
            alias="X-Device-Id", description="设备标识（8–128 个可打印 ASCII 字符），用于按设备限制上报频率"
        ),
    ] = None,
) -> CitizenCaseView:
    data = intake.ReportInput(
        category_code=body.category,
        description=body.description,
        lng=body.lng,
        lat=body.lat,
        coord=body.coord,
        address=body.address,
        upload_ids=tuple(body.upload_ids),
        anonymous=body.anonymous,
        public=body.public,
        channel=Channel(body.channel),
    )
    filed = intake.file_report_by_citizen(
        session, settings, citizen=citizen, data=data, idempotency_key=idempotency_key, device_id=device_id
    )
    if not filed.created:
        response.status_code = 200
    return citizen_view(
        session, settings, filed.case, category=filed.category, events=filed.events, photos=filed.photos
    )


@router.get(
    "/reports/mine", response_model=Page[CitizenCaseSummary], summary="我的上报", responses=AUTH_RESPONSES
)
def my_reports(
    session: SessionDep,
    citizen: CitizenDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Page[CitizenCaseSummary]:
    assert citizen.id is not None
    cases, total = repository.cases_of_citizen(session, citizen.id, limit=limit, offset=offset)
    return Page(items=citizen_summaries(session, cases), total=total)


@router.get(
    "/reports/following",
    response_model=Page[CitizenCaseSummary],
    summary="我关注的问题",
    responses=AUTH_RESPONSES,
)
def following(
    session: SessionDep,
    citizen: CitizenDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Page[CitizenCaseSummary]:
    assert citizen.id is not None
    cases, total = repository.followed_cases(session, citizen.id, limit=limit, offset=offset)
    return Page(items=citizen_summaries(session, cases), total=total)


@router.get(
    "/reports/{case_no}",
    response_model=CitizenCaseView,
    summary="案件进度",
    responses={**AUTH_RESPONSES, **problem_responses(404)},
)
def report_detail(
    case_no: CaseNo, session: SessionDep, settings: SettingsDep, citizen: CitizenDep
) -> CitizenCaseView:
    case = get_case(session, case_no)
    if not follow.can_view(session, citizen=citizen, case=case):
        raise CaseNotFound(case_no)
    return citizen_view(session, settings, case)


@router.post(
    "/reports/{case_no}/follow",
    response_model=CitizenCaseView,
    summary="我也遇到（关注该问题）",
    responses={
        201: {"model": CitizenCaseView, "description": "已关注（新关注）"},
        **AUTH_RESPONSES,
        **problem_responses(404),
    },
)
def follow_case(
    case_no: CaseNo, response: Response, session: SessionDep, settings: SettingsDep, citizen: CitizenDep
) -> CitizenCaseView:
    case, created = follow.follow(session, citizen=citizen, case_no=case_no)
    response.status_code = 201 if created else 200
    return citizen_view(session, settings, case)


@router.delete(
    "/reports/{case_no}/follow",
    status_code=204,
    summary="取消关注",
    responses={**AUTH_RESPONSES, **problem_responses(404)},
)
def unfollow_case(case_no: CaseNo, session: SessionDep, citizen: CitizenDep) -> Response:
    follow.unfollow(session, citizen=citizen, case_no=case_no)
    return Response(status_code=204)


@router.post(
    "/reports/{case_no}/rating",
    response_model=CitizenCaseView,
    summary="评价办理结果",
    responses={**BODY_RESPONSES, **AUTH_RESPONSES, **problem_responses(404, 409)},
)
def rate(
    case_no: CaseNo, body: RatingBody, session: SessionDep, settings: SettingsDep, citizen: CitizenDep
) -> CitizenCaseView:
    case = intake.rate(
        session, settings, citizen=citizen, case_no=case_no, stars=body.stars, comment=body.comment
    )
    return citizen_view(session, settings, case)
