"""Public geocoding: which grid, community, street and department a point belongs to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep
from api.errors import PROBLEM_RESPONSES
from core.geo import service as geo_service
from core.geo.coords import CoordSystem
from core.geo.schemas import Location

router = APIRouter(prefix="/api/v1/geo", tags=["geo"], responses=PROBLEM_RESPONSES)


@router.get("/locate", response_model=Location, summary="坐标定位到单元网格")
def locate(
    session: SessionDep,
    settings: SettingsDep,
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="经度")],
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="纬度")],
    coord: Annotated[
        CoordSystem | None, Query(description="坐标系：wgs84（GPS）或 gcj02（微信/高德）；缺省时按系统设置")
    ] = None,
    category: Annotated[str | None, Query(max_length=16, description="案件小类编码，返回其派遣部门")] = None,
) -> Location:
    system = coord or CoordSystem(settings.geo.default_coord)
    return geo_service.locate(session, lng=lng, lat=lat, coord=system, category=category)
