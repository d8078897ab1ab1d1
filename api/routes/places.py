"""Public toilets and parking lots near a point, and the parking operators' availability push."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query

from api.deps import SessionDep, SettingsDep
from api.errors import BODY_RESPONSES, PROBLEM_RESPONSES, Problem, problem_responses
from core.geo.coords import CoordSystem
from core.kit.clock import utcnow
from core.kit.text import CODE_PATTERN
from core.models.places import PlaceKind
from core.places import service as places_service
from core.places.schemas import AvailabilityIn, PlaceList, PlaceOut

router = APIRouter(prefix="/api/v1/places", tags=["places"], responses=PROBLEM_RESPONSES)

CodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="设施编码")]


@router.get("", response_model=PlaceList, summary="附近的公厕或停车场（由近到远）")
def nearest_places(
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[PlaceKind, Query(description="toilet 公厕 / parking 停车场")],
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="经度")],
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="纬度")],
    coord: Annotated[
        CoordSystem | None, Query(description="坐标系：wgs84（GPS）或 gcj02（微信/高德）；缺省时按系统设置")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=places_service.MAX_LIMIT, description="返回数量")] = 10,
    open_now: Annotated[bool | None, Query(description="true：只要现在开放的")] = None,
    accessible: Annotated[bool | None, Query(description="true：只要无障碍的")] = None,
) -> PlaceList:
    items = places_service.nearest(
        session,
        kind=kind,
        lng=lng,
        lat=lat,
        coord=coord or CoordSystem(settings.geo.default_coord),
        limit=limit,
        open_now=True if open_now else None,
        accessible=True if accessible else None,
        now=utcnow(),
        stale_after_s=settings.places.availability_stale_s,
    )
    return PlaceList(items=items)


@router.get("/{code}", response_model=PlaceOut, summary="一个公厕或停车场", responses=problem_responses(404))
def get_place(
    session: SessionDep,
    settings: SettingsDep,
    code: CodePath,
    lng: Annotated[
        float | None, Query(ge=-180, le=180, allow_inf_nan=False, description="经度（算距离）")
    ] = None,
    lat: Annotated[
        float | None, Query(ge=-90, le=90, allow_inf_nan=False, description="纬度（算距离）")
    ] = None,
    coord: Annotated[CoordSystem | None, Query(description="坐标系：wgs84 或 gcj02")] = None,
) -> PlaceOut:
    return places_service.get_place(
        session,
        code=code,
        lng=lng,
        lat=lat,
        coord=coord or CoordSystem(settings.geo.default_coord),
        now=utcnow(),
        stale_after_s=settings.places.availability_stale_s,
    )


@router.put(
    "/{code}/availability",
    response_model=PlaceOut,
    summary="停车场运营方上报空余车位",
    responses={
        **BODY_RESPONSES,
        **problem_responses(404),
        401: {"model": Problem, "description": "接口密钥无效或缺失（invalid_api_key）"},
        403: {"model": Problem, "description": "该停车场不属于此运营方（not_your_place）"},
    },
)
def push_availability(
    session: SessionDep,
    settings: SettingsDep,
    code: CodePath,
    body: AvailabilityIn,
    x_api_key: Annotated[str | None, Header(description="运营方接口密钥")] = None,
) -> PlaceOut:
    return places_service.push_availability(
        session,
        code=code,
        api_key=x_api_key,
        available_spaces=body.available_spaces,
        now=utcnow(),
        stale_after_s=settings.places.availability_stale_s,
    )
