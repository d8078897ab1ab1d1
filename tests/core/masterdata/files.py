"""Small, consistent master-data files for the importer tests and helpers to write and count them."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from shapely import Polygon
from shapely.geometry import mapping
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from core.models import (
    AdminArea,
    CalendarDay,
    Category,
    Department,
    ImportBatch,
    Place,
    RegisterStandard,
    ResponsibilityGrid,
    RoutingRule,
    UnitGrid,
)
from tests.fixtures.factories import cell

DISTRICT = "360502"
STREET = "360502001"
COMMUNITY = "360502001001"
OTHER_COMMUNITY = "360502001002"
RESPONSIBILITY = "36050200100101"

GOOD_CSV: dict[str, str] = {
    "areas.csv": f"""
        code,name,level,parent_code
        {DISTRICT},渝水区,district,
        {STREET},城北街道,street,{DISTRICT}
        {COMMUNITY},北湖社区,community,{STREET}
        {OTHER_COMMUNITY},南湖社区,community,{STREET}
    """,
    "departments.csv": """
        code,name,kind,parent_code,contact_name,contact_phone
        SZJ,市政局,municipal,,张三,0790-1234567
        SZJ-LD,路灯所,municipal,SZJ,李四,
        HWC,环卫处,sanitation,,,
    """,
    "categories.csv": """
        code,kind,level,parent_code,name
        BJ01,component,major,,公用设施
        BJ0101,component,minor,BJ01,上水井盖
        SJ01,event,major,,市容环境
        SJ0101,event,minor,SJ01,暴露垃圾
    """,
    "register_standards.csv": """
        category_code,seq,condition,time_limit_kind,time_limit_amount,close_condition
        BJ0101,1,井盖缺失,urgent_hours,2,已恢复
        BJ0101,2,井盖破损,工作日,1.5,已更换
        SJ0101,1,暴露垃圾,work_hours,4,已清理
    """,
    "routing.csv": f"""
        category_code,area_code,department_code
        BJ0101,,SZJ
        BJ0101,{STREET},SZJ-LD
        SJ0101,,HWC
    """,
    "responsibility_grids.csv": f"""
        code,name,community_code
        {RESPONSIBILITY},北湖第01责任网格,{COMMUNITY}
    """,
    "places.csv": """
        code,kind,name,address,lng,lat,open_hours,capacity,fee_note,accessible
        WC001,toilet,北湖公厕,北湖路1号,114.91,27.81,全天,,免费,true
        P001,parking,北湖停车场,北湖路2号,114.92,27.82,06:00-22:00,120,2元/小时,false
    """,
    "calendar.csv": """
        date,is_workday,name
        2026-01-01,false,元旦
        2026-01-04,true,元旦调休
    """,
}


def feature(
    code: str,
    geometry: Polygon | dict[str, Any],
    community: str = COMMUNITY,
    responsibility: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, "community_code": community, "responsibility_grid_code": responsibility},
        "geometry": geometry if isinstance(geometry, dict) else mapping(geometry),
    }


def feature_collection(features: Iterable[dict[str, Any]]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False, indent=1)


GOOD_FEATURES = [
    feature(f"{COMMUNITY}001", cell(0, 0), responsibility=RESPONSIBILITY),
    feature(f"{COMMUNITY}002", cell(1, 0), responsibility=RESPONSIBILITY),
    feature(f"{OTHER_COMMUNITY}001", cell(0, 1), community=OTHER_COMMUNITY),
]
GOOD_FILES: dict[str, str] = {
    **{name: textwrap.dedent(text).strip() + "\n" for name, text in GOOD_CSV.items()},
    "unit_grids.geojson": feature_collection(GOOD_FEATURES),
}
# Rows per file of the good folder.
GOOD_ROWS = {
    "areas": 4,
    "departments": 3,
    "categories": 4,
    "register-standards": 3,
    "routing": 3,
    "responsibility-grids": 1,
    "unit-grids": 3,
    "places": 2,
    "calendar": 2,
}


def csv_text(text: str) -> str:
    """Indented triple-quoted CSV → file text (header on line 1)."""
    return textwrap.dedent(text).strip() + "\n"


Writer = Callable[..., Path]


def count(session: Session, model: type[SQLModel]) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


MODELS: dict[str, type[SQLModel]] = {
    "areas": AdminArea,
    "departments": Department,
    "categories": Category,
    "register-standards": RegisterStandard,
    "routing": RoutingRule,
    "responsibility-grids": ResponsibilityGrid,
    "unit-grids": UnitGrid,
    "places": Place,
    "calendar": CalendarDay,
}


def counts(session: Session) -> dict[str, int]:
    """Rows per kind in the database (plus the import batches)."""
    return {kind: count(session, model) for kind, model in MODELS.items()} | {
        "batches": count(session, ImportBatch)
    }
