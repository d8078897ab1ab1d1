"""Public: what is already reported near a point (registered before /reports/{case_no})."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.errors import PROBLEM_RESPONSES
from core.cases import nearby as nearby_service
from core.cases.schemas import PublicCase
from core.geo.coords import CoordSystem
from core.kit.clock import utcnow
from core.kit.text import CODE_PATTERN

router = APIRouter(prefix="/api/v1/reports", tags=["citizen"], responses=PROBLEM_RESPONSES)

Lng = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="经度")]
Lat = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="纬度")]
Coord = Annotated[CoordSystem, Query(description="坐标系，小程序为 gcj02")]


@router.get("/nearby", response_model=list[PublicCase], summary="附近已有的问题（公开信息）")
def nearby(
    session: SessionDep,
    lng: Lng,
    lat: Lat,
    coord: Coord = CoordSystem.GCJ02,
    radius: Annotated[float, Query(gt=0, le=3000, description="半径（米）")] = 500,
    category: Annotated[str | None, Query(pattern=CODE_PATTERN, description="大类或小类编码")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> list[PublicCase]:
    return nearby_service.nearby(
        session, lng=lng, lat=lat, coord=coord, radius_m=radius, category_code=category, limit=limit
    )


@router.get(
    "/duplicates", response_model=list[PublicCase], summary="提交前查重：附近 100 米内近期相同或相关问题"
)
def duplicates(
    session: SessionDep,
    lng: Lng,
    lat: Lat,
    category: Annotated[str, Query(pattern=CODE_PATTERN, description="要上报的小类编码")],
    coord: Coord = CoordSystem.GCJ02,
) -> list[PublicCase]:
    return nearby_service.likely_duplicates(
        session, lng=lng, lat=lat, coord=coord, category_code=category, now=utcnow()
    )
