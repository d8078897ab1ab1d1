"""Writing master data back out in exactly the importers' formats, so that export → import changes nothing.

Rows come out in an order the importers accept on an empty database too: parents before children
(areas by level, departments depth-first, major categories before minor ones), everything else by code.
Values are written as the importers read them: enums by value, booleans as ``true``/``false``, an empty
cell for a missing number, decimals without trailing zeros, coordinates with every digit they have.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from core.errors import NotFound
from core.masterdata.importers.areas import COLUMNS as AREA_COLUMNS
from core.masterdata.importers.calendar import COLUMNS as CALENDAR_COLUMNS
from core.masterdata.importers.categories import CATEGORY_COLUMNS, ROUTING_COLUMNS, STANDARD_COLUMNS
from core.masterdata.importers.departments import COLUMNS as DEPARTMENT_COLUMNS
from core.masterdata.importers.grids import RESPONSIBILITY_COLUMNS
from core.masterdata.importers.places import COLUMNS as PLACE_COLUMNS
from core.masterdata.service import KINDS_BY_NAME
from core.models import (
    AdminArea,
    AreaLevel,
    CalendarDay,
    Category,
    CategoryLevel,
    Department,
    Place,
    RegisterStandard,
    ResponsibilityGrid,
    RoutingRule,
    UnitGrid,
)

CSV_TYPE = "text/csv; charset=utf-8"
GEOJSON_TYPE = "application/geo+json"
LEVEL_ORDER = {AreaLevel.DISTRICT: 0, AreaLevel.STREET: 1, AreaLevel.COMMUNITY: 2}


@dataclass(frozen=True)
class ExportFile:
    file_name: str
    media_type: str
    text: str
    rows: int


def export_kind(session: Session, kind_name: str, *, geojson: bool = False) -> ExportFile:
    """The file of one kind (the name the importer expects). ``geojson`` picks the GeoJSON form of
    places (``places.geojson``); unit grids are always GeoJSON, the other kinds always CSV."""
    kind = KINDS_BY_NAME.get(kind_name)
    if kind is None:
        raise NotFound("masterdata_kind_unknown", f"未知的数据类型“{kind_name}”")
    if kind_name == "places" and geojson:
        text, rows = _places_geojson(session)
        return ExportFile("places.geojson", GEOJSON_TYPE, text, rows)
    writer = _WRITERS[kind_name]
    text, rows = writer(session)
    media_type = GEOJSON_TYPE if kind.file_name.endswith(".geojson") else CSV_TYPE
    return ExportFile(kind.file_name, media_type, text, rows)


def formats(kind_name: str) -> tuple[str, ...]:
    """The file names a kind can be exported as (the first is the default)."""
    kind = KINDS_BY_NAME[kind_name]
    return kind.file_names


# --------------------------------------------------------------------------- helpers


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> tuple[str, int]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
        count += 1
    return out.getvalue(), count


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _decimal(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _number(value: float) -> str:
    return repr(float(value))


def _codes(session: Session, model: type[Any]) -> dict[int, str]:
    return {row.id: row.code for row in session.exec(select(model)).all()}


def _geojson(features: list[dict[str, Any]]) -> str:
    return (
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1) + "\n"
    )


# --------------------------------------------------------------------------- kinds


def _areas(session: Session) -> tuple[str, int]:
    areas = list(session.exec(select(AdminArea)).all())
    codes = {area.id: area.code for area in areas}
    areas.sort(key=lambda area: (LEVEL_ORDER[area.level], area.code))
    return _csv(
        AREA_COLUMNS,
        ([a.code, a.name, a.level.value, codes.get(a.parent_id, "") if a.parent_id else ""] for a in areas),
    )


def _departments(session: Session) -> tuple[str, int]:
    departments = list(session.exec(select(Department).order_by(col(Department.code))).all())
    codes = {d.id: d.code for d in departments}
    children: dict[int | None, list[Department]] = {}
    for department in departments:
        parent = department.parent_id if department.parent_id in codes else None
        children.setdefault(parent, []).append(department)
    ordered: list[Department] = []
    stack = list(reversed(children.get(None, [])))
    while stack:  # depth-first: every department after its parent
        department = stack.pop()
        ordered.append(department)
        stack.extend(reversed(children.get(department.id, [])))
    return _csv(
        DEPARTMENT_COLUMNS,
        (
            [
                d.code,
                d.name,
                d.kind.value,
                codes.get(d.parent_id, "") if d.parent_id else "",
                d.contact_name,
                d.contact_phone,
            ]
            for d in ordered
        ),
    )


def _categories(session: Session) -> tuple[str, int]:
    categories = list(session.exec(select(Category)).all())
    codes = {c.id: c.code for c in categories}
    categories.sort(key=lambda c: (c.level is not CategoryLevel.MAJOR, c.code))
    return _csv(
        CATEGORY_COLUMNS,
        (
            [c.code, c.kind.value, c.level.value, codes.get(c.parent_id, "") if c.parent_id else "", c.name]
            for c in categories
        ),
    )


def _standards(session: Session) -> tuple[str, int]:
    categories = _codes(session, Category)
    standards = sorted(
        session.exec(select(RegisterStandard)).all(), key=lambda s: (categories[s.category_id], s.seq)
    )
    return _csv(
        STANDARD_COLUMNS,
        (
            [
                categories[s.category_id],
                s.seq,
                s.condition,
                s.time_limit_kind.value,
                _decimal(s.time_limit_amount),
                s.close_condition,
            ]
            for s in standards
        ),
    )


def _routing(session: Session) -> tuple[str, int]:
    categories = _codes(session, Category)
    areas = _codes(session, AdminArea)
    departments = _codes(session, Department)
    rules = sorted(
        session.exec(select(RoutingRule)).all(),
        key=lambda r: (categories[r.category_id], areas.get(r.area_id, "") if r.area_id else ""),
    )
    return _csv(
        ROUTING_COLUMNS,
        (
            [categories[r.category_id], areas[r.area_id] if r.area_id else "", departments[r.department_id]]
            for r in rules
        ),
    )


def _responsibility_grids(session: Session) -> tuple[str, int]:
    areas = _codes(session, AdminArea)
    grids = session.exec(select(ResponsibilityGrid).order_by(col(ResponsibilityGrid.code))).all()
    return _csv(RESPONSIBILITY_COLUMNS, ([g.code, g.name, areas[g.community_id]] for g in grids))


def _unit_grids(session: Session) -> tuple[str, int]:
    areas = _codes(session, AdminArea)
    responsibility = _codes(session, ResponsibilityGrid)
    grids = session.exec(select(UnitGrid).order_by(col(UnitGrid.code))).all()
    features = [
        {
            "type": "Feature",
            "properties": {
                "code": grid.code,
                "community_code": areas[grid.community_id],
                "responsibility_grid_code": (
                    responsibility[grid.responsibility_grid_id] if grid.responsibility_grid_id else None
                ),
            },
            "geometry": json.loads(grid.geometry),
        }
        for grid in grids
    ]
    return _geojson(features), len(features)


def _all_places(session: Session) -> list[Place]:
    return list(session.exec(select(Place).order_by(col(Place.code))).all())


def _places(session: Session) -> tuple[str, int]:
    return _csv(
        PLACE_COLUMNS,
        (
            [
                p.code,
                p.kind.value,
                p.name,
                p.address,
                _number(p.lng),
                _number(p.lat),
                p.open_hours,
                p.capacity,
                p.fee_note,
                _bool(p.accessible),
                _bool(p.baby_room),
                _bool(p.ev_charging),
                _bool(p.free),
                p.attributes or "",
            ]
            for p in _all_places(session)
        ),
    )


def _places_geojson(session: Session) -> tuple[str, int]:
    features = [
        {
            "type": "Feature",
            "properties": {
                "code": p.code,
                "kind": p.kind.value,
                "name": p.name,
                "address": p.address,
                "open_hours": p.open_hours,
                "capacity": p.capacity,
                "fee_note": p.fee_note,
                "accessible": p.accessible,
                "baby_room": p.baby_room,
                "ev_charging": p.ev_charging,
                "free": p.free,
                "attributes": json.loads(p.attributes) if p.attributes else None,
            },
            "geometry": {"type": "Point", "coordinates": [p.lng, p.lat]},
        }
        for p in _all_places(session)
    ]
    return _geojson(features), len(features)


def _calendar(session: Session) -> tuple[str, int]:
    days = session.exec(select(CalendarDay).order_by(col(CalendarDay.day))).all()
    return _csv(CALENDAR_COLUMNS, ([d.day.isoformat(), _bool(d.is_workday), d.name] for d in days))


_WRITERS: dict[str, Callable[[Session], tuple[str, int]]] = {
    "areas": _areas,
    "departments": _departments,
    "categories": _categories,
    "register-standards": _standards,
    "routing": _routing,
    "responsibility-grids": _responsibility_grids,
    "unit-grids": _unit_grids,
    "places": _places,
    "calendar": _calendar,
}
