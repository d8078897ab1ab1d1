"""GeoJSON for the console map: unit grids and their outlines, open cases, toilets and parking.

Everything here is WGS-84 lng/lat, as stored. A layer is asked for one viewport (a bounding box) at a
time and answers at most a fixed number of features, so the payload stays small whatever the city:

* **Grids** come from an in-process cache built from the database once per data change (the same
  ``SignedCache`` scheme as the geocoder): each unit grid's polygon and bounds, plus the outlines of
  every responsibility grid and community (unions of their unit grids). A request filters the bounds
  arrays with numpy (the 8,000-grid demo city in well under a millisecond) and, for outlines, simplifies
  to about one screen pixel at the requested zoom. Below ``UNIT_MIN_ZOOM`` only outlines are sent.
  ``GridLayers.version`` changes with the data and is the base of the HTTP ETag.
* **Cases** are read fresh (they change all the time): open cases the staff member may see
  (``core.cases.access.visible_condition``) inside the box, only the columns a marker needs.
* **Places** are read fresh too (parking availability changes): active places inside the box.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
import shapely.errors
import sqlalchemy as sa
from sqlmodel import Session, col

from core.cases.access import visible_condition
from core.cases.workflow import OPEN_STATUSES, STATUS_LABELS
from core.errors import Invalid
from core.kit.cache import SignedCache
from core.kit.clock import to_local, utcnow
from core.masterdata.service import GEO_KINDS, on_imported
from core.models import (
    AdminArea,
    Case,
    CaseStatus,
    Category,
    CategoryLevel,
    ImportBatch,
    ResponsibilityGrid,
    StaffUser,
    UnitGrid,
)
from core.models.places import Place, PlaceKind

UNIT_MIN_ZOOM = 17  # unit grids from this zoom on (a 1440×900 viewport holds ~170 of them at 17)
RESPONSIBILITY_MIN_ZOOM = 15  # responsibility-grid outlines at 15–16, community outlines below
MAX_ZOOM = 22
MAX_GRID_FEATURES = 1500
MAX_CASE_FEATURES = 2000
MAX_PLACE_FEATURES = 1000
COORD_DECIMALS = 6  # ~0.1 m: more digits would only make the payload bigger
RECHECK_S = 10.0

Geometries = npt.NDArray[np.object_]
Bounds = npt.NDArray[np.float64]


class InvalidMapQuery(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_map_query", message)


# -- the viewport -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BBox:
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float


def parse_bbox(text: str | None) -> BBox:
    """``min_lng,min_lat,max_lng,max_lat`` (WGS-84 degrees), as Leaflet's ``toBBoxString()`` gives it."""
    if not text:
        raise InvalidMapQuery("缺少地图范围参数 bbox")
    parts = text.split(",")
    if len(parts) != 4:
        raise InvalidMapQuery("地图范围 bbox 应为“最小经度,最小纬度,最大经度,最大纬度”")
    try:
        min_lng, min_lat, max_lng, max_lat = (float(part) for part in parts)
    except ValueError:
        raise InvalidMapQuery("地图范围 bbox 含有非数字的值") from None
    if not all(math.isfinite(value) for value in (min_lng, min_lat, max_lng, max_lat)):
        raise InvalidMapQuery("地图范围 bbox 含有非数字的值")
    # Leaflet may report a world-wrapped view slightly past ±180: clamp the longitudes, refuse the rest.
    min_lng, max_lng = max(min_lng, -180.0), min(max_lng, 180.0)
    if not (-90.0 <= min_lat <= 90.0 and -90.0 <= max_lat <= 90.0):
        raise InvalidMapQuery("地图范围 bbox 的纬度应在 -90 到 90 之间")
    if min_lng > max_lng or min_lat > max_lat:
        raise InvalidMapQuery("地图范围 bbox 的最小值不能大于最大值")
    return BBox(min_lng, min_lat, max_lng, max_lat)


def parse_zoom(text: str | None) -> int:
    if not text:
        raise InvalidMapQuery("缺少缩放级别参数 zoom")
    try:
        zoom = int(text)
    except ValueError:
        raise InvalidMapQuery("缩放级别 zoom 应为整数") from None
    if not 0 <= zoom <= MAX_ZOOM:
        raise InvalidMapQuery(f"缩放级别 zoom 应在 0 到 {MAX_ZOOM} 之间")
    return zoom


def _round(coords: npt.NDArray[np.float64]) -> list[list[float]]:
    rounded: list[list[float]] = np.round(coords, COORD_DECIMALS).tolist()
    return rounded


def _polygon_coords(polygon: shapely.Polygon) -> list[list[list[float]]]:
    rings = [polygon.exterior, *polygon.interiors]
    return [_round(shapely.get_coordinates(ring)) for ring in rings]


def geometry_json(geometry: shapely.Geometry) -> dict[str, Any]:
    """A (Multi)Polygon as a GeoJSON geometry with rounded coordinates."""
    if isinstance(geometry, shapely.Polygon):
        return {"type": "Polygon", "coordinates": _polygon_coords(geometry)}
    if isinstance(geometry, shapely.MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [_polygon_coords(part) for part in geometry.geoms]}
    parts = [part for part in getattr(geometry, "geoms", []) if isinstance(part, shapely.Polygon)]
    return {"type": "MultiPolygon", "coordinates": [_polygon_coords(part) for part in parts]}


def feature_collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}


# -- grids --------------------------------------------------------------------------------------


@dataclass
class GridLayer:
    """One level of polygons (unit grids, responsibility grids or communities), ordered by code."""

    level: str
    codes: list[str]
    names: list[str]
    geometries: Geometries
    bounds: Bounds  # (n, 4): min_lng, min_lat, max_lng, max_lat
    simplify: bool
    _simplified: dict[int, Geometries] = field(default_factory=dict, repr=False)

    def in_box(self, box: BBox) -> npt.NDArray[np.intp]:
        if not self.codes:
            return np.empty(0, dtype=np.intp)
        b = self.bounds
        hit = (b[:, 0] <= box.max_lng) & (b[:, 2] >= box.min_lng) & (b[:, 1] <= box.max_lat)
        hit &= b[:, 3] >= box.min_lat
        return np.flatnonzero(hit)

    def at_zoom(self, zoom: int) -> Geometries:
        """The geometries simplified to about a pixel at ``zoom`` (memoised per zoom)."""
        if not self.simplify:
            return self.geometries
        found = self._simplified.get(zoom)
        if found is None:
            tolerance = 360.0 / (256 * 2**zoom)
            found = shapely.simplify(self.geometries, tolerance, preserve_topology=True)
            self._simplified[zoom] = found
        return found


@dataclass
class GridLayers:
    version: str  # changes whenever the grids, their groups or their names do
    unit: GridLayer
    responsibility: GridLayer
    community: GridLayer
    # unit grid code → its community code (for the bounds of an account's area)
    community_of_unit: list[str]

    def for_zoom(self, zoom: int) -> GridLayer:
        if zoom >= UNIT_MIN_ZOOM:
            return self.unit
        if zoom >= RESPONSIBILITY_MIN_ZOOM:
            return self.responsibility
        return self.community

    def bounds_of(self, area_code: str | None) -> tuple[float, float, float, float] | None:
        """The extent of the unit grids under an area code (all of them for None)."""
        if not self.unit.codes:
            return None
        if area_code:
            picked = [i for i, code in enumerate(self.community_of_unit) if code.startswith(area_code)]
            if not picked:
                return None
            b = self.unit.bounds[picked]
        else:
            b = self.unit.bounds
        return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))


def grid_signature(session: Session) -> tuple[Any, ...]:
    """Cheap: changes when an import ran or a grid, responsibility grid or area was edited."""
    row = session.execute(
        sa.select(
            sa.select(sa.func.max(ImportBatch.id)).scalar_subquery(),
            sa.select(sa.func.count()).select_from(UnitGrid).scalar_subquery(),
            sa.select(sa.func.max(UnitGrid.updated_at)).scalar_subquery(),
            sa.select(sa.func.count()).select_from(ResponsibilityGrid).scalar_subquery(),
            sa.select(sa.func.max(ResponsibilityGrid.updated_at)).scalar_subquery(),
            sa.select(sa.func.max(AdminArea.updated_at)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def _grid_rows(session: Session) -> list[tuple[str, str, str, str, str | None, str | None]]:
    """(code, geometry GeoJSON, community code, community name, responsibility code, its name)."""
    community = sa.orm.aliased(AdminArea)
    stmt = (
        sa.select(
            col(UnitGrid.code),
            col(UnitGrid.geometry),
            col(community.code),
            col(community.name),
            col(ResponsibilityGrid.code),
            col(ResponsibilityGrid.name),
        )
        .join(community, col(UnitGrid.community_id) == community.id)
        .outerjoin(ResponsibilityGrid, col(UnitGrid.responsibility_grid_id) == ResponsibilityGrid.id)
        .order_by(col(UnitGrid.code))
    )
    return [tuple(row) for row in session.execute(stmt)]


def _layer(
    level: str, codes: list[str], names: list[str], geometries: Geometries, *, simplify: bool
) -> GridLayer:
    bounds = shapely.bounds(geometries) if len(geometries) else np.empty((0, 4), dtype=np.float64)
    return GridLayer(level, codes, names, geometries, np.asarray(bounds, dtype=np.float64), simplify)


def _outline(cells: Geometries) -> shapely.Geometry:
    """The union of some unit grids. Grids tile the city edge to edge, so the fast coverage union
    (~30× faster than a general union on the demo city) is exact; should imported grids overlap or
    leave gaps, its result is off (invalid, or the area differs) and the general union is used."""
    try:
        merged = shapely.coverage_union_all(cells)
        if shapely.is_valid(merged) and math.isclose(
            merged.area, float(shapely.area(cells).sum()), rel_tol=1e-6, abs_tol=1e-12
        ):
            return merged
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(cells)


def _union_layer(
    level: str, groups: dict[str, list[int]], names: dict[str, str], unit: Geometries
) -> GridLayer:
    codes = sorted(groups)
    outlines = np.empty(len(codes), dtype=object)
    outlines[:] = [_outline(unit[groups[code]]) for code in codes]
    return _layer(level, codes, [names.get(code, "") for code in codes], outlines, simplify=True)


def build_grid_layers(session: Session) -> GridLayers:
    rows = _grid_rows(session)
    unit = shapely.from_geojson([row[1] for row in rows]) if rows else np.empty(0, dtype=object)
    by_responsibility: dict[str, list[int]] = defaultdict(list)
    by_community: dict[str, list[int]] = defaultdict(list)
    names: dict[str, str] = {}
    for i, (_, _, community_code, community_name, resp_code, resp_name) in enumerate(rows):
        by_community[community_code].append(i)
        names[community_code] = community_name
        if resp_code is not None:
            by_responsibility[resp_code].append(i)
            names[resp_code] = resp_name or ""
    version = hashlib.sha256(repr(grid_signature(session)).encode()).hexdigest()[:20]
    return GridLayers(
        version=version,
        unit=_layer("unit", [row[0] for row in rows], ["" for _ in rows], unit, simplify=False),
        responsibility=_union_layer("responsibility", by_responsibility, names, unit),
        community=_union_layer("community", by_community, names, unit),
        community_of_unit=[row[2] for row in rows],
    )


_grid_cache: SignedCache[GridLayers] = SignedCache(
    build=build_grid_layers, signature=grid_signature, recheck_s=RECHECK_S, kinds=frozenset(GEO_KINDS)
)
on_imported(_grid_cache.invalidate)


def invalidate_grid_cache() -> None:
    _grid_cache.invalidate()


def grid_layers(session: Session) -> GridLayers:
    return _grid_cache.get(session)


def grid_features(
    session: Session, box: BBox, zoom: int, *, limit: int = MAX_GRID_FEATURES
) -> dict[str, Any]:
    """Unit grids (zoomed in) or outlines (zoomed out) touching the box, at most ``limit``."""
    layer = grid_layers(session).for_zoom(zoom)
    picked = layer.in_box(box)
    truncated = len(picked) > limit
    picked = picked[:limit]
    geometries = layer.at_zoom(zoom)
    features = []
    for i in picked.tolist():
        properties = {"code": layer.codes[i], "level": layer.level}
        if layer.names[i]:
            properties["name"] = layer.names[i]
        features.append(
            {"type": "Feature", "geometry": geometry_json(geometries[i]), "properties": properties}
        )
    return feature_collection(features, level=layer.level, truncated=truncated)


def grid_etag(session: Session, query: Iterable[tuple[str, str]]) -> str:
    """A strong validator of one grid answer: the data version and the normalised query."""
    text = "&".join(f"{key}={value}" for key, value in sorted(query))
    digest = hashlib.sha256(f"{grid_layers(session).version}?{text}".encode()).hexdigest()[:24]
    return f'"g-{digest}"'


# -- cases --------------------------------------------------------------------------------------

# The deadline a marker shows: the running stage's (a suspended case's clock is stopped).
STAGE_DUE: dict[CaseStatus, Callable[[Any], datetime | None]] = {
    CaseStatus.PENDING: lambda row: row.register_due_at,
    CaseStatus.VERIFYING: lambda row: row.register_due_at,
    CaseStatus.ACCEPTED: lambda row: row.register_due_at,
    CaseStatus.REGISTERED: lambda row: row.dispatch_due_at,
    CaseStatus.DISPATCHED: lambda row: row.handle_due_at,
    CaseStatus.SUSPENDED: lambda row: row.handle_due_at,
    CaseStatus.HANDLED: lambda row: row.check_due_at,
    CaseStatus.CHECKING: lambda row: row.check_due_at,
}
MAP_STAGES: tuple[CaseStatus, ...] = tuple(status for status in CaseStatus if status in OPEN_STATUSES)


@dataclass(frozen=True)
class CaseFilter:
    statuses: tuple[CaseStatus, ...] = MAP_STAGES
    category_code: str = ""  # a minor category, or a major one with all its minors
    overdue_only: bool = False


def parse_case_filter(statuses: Sequence[str], category: str, overdue: str) -> CaseFilter:
    chosen: list[CaseStatus] = []
    for value in statuses:
        try:
            status = CaseStatus(value)
        except ValueError:
            raise InvalidMapQuery(f"案件阶段“{value[:20]}”不存在") from None
        if status not in OPEN_STATUSES:
            raise InvalidMapQuery(f"地图只显示办理中的案件，不能筛选“{STATUS_LABELS[status]}”")
        chosen.append(status)
    category = category.strip()
    if len(category) > 16 or not all(ch.isalnum() for ch in category):
        raise InvalidMapQuery("案件类别编码不正确")
    return CaseFilter(
        statuses=tuple(chosen) if statuses else MAP_STAGES,
        category_code=category,
        overdue_only=overdue in {"1", "true", "on"},
    )


def _category_condition(code: str) -> sa.ColumnElement[bool]:
    minor = sa.orm.aliased(Category)
    major = sa.orm.aliased(Category)
    ids = (
        sa.select(col(minor.id))
        .outerjoin(major, col(minor.parent_id) == col(major.id))
        .where(sa.or_(col(minor.code) == code, col(major.code) == code))
    )
    return col(Case.category_id).in_(ids)


def _overdue_condition(now: datetime) -> sa.ColumnElement[bool]:
    """Marked overdue by the SLA job, or the running stage's deadline has passed (before the next run)."""
    running = [
        (col(Case.register_due_at), [CaseStatus.PENDING, CaseStatus.VERIFYING, CaseStatus.ACCEPTED]),
        (col(Case.dispatch_due_at), [CaseStatus.REGISTERED]),
        (col(Case.handle_due_at), [CaseStatus.DISPATCHED]),
        (col(Case.check_due_at), [CaseStatus.HANDLED, CaseStatus.CHECKING]),
    ]
    return sa.or_(
        col(Case.overdue).is_(True),
        *(sa.and_(col(Case.status).in_(statuses), due < now) for due, statuses in running),
    )


def _is_overdue(row: Any, due: datetime | None, now: datetime) -> bool:
    """The Python twin of ``_overdue_condition`` for one row."""
    return bool(row.overdue) or (due is not None and due < now and row.status is not CaseStatus.SUSPENDED)


def _case_rows(
    session: Session, staff: StaffUser, box: BBox, where: CaseFilter, now: datetime, limit: int
) -> list[Any]:
    conditions = [
        col(Case.status).in_(list(where.statuses)),
        col(Case.lng).between(box.min_lng, box.max_lng),
        col(Case.lat).between(box.min_lat, box.max_lat),
        visible_condition(session, staff),
    ]
    if where.category_code:
        conditions.append(_category_condition(where.category_code))
    if where.overdue_only:
        conditions.append(_overdue_condition(now))
    stmt = (
        sa.select(
            col(Case.case_no),
            col(Case.status),
            col(Case.lng),
            col(Case.lat),
            col(Case.overdue),
            col(Case.register_due_at),
            col(Case.dispatch_due_at),
            col(Case.handle_due_at),
            col(Case.check_due_at),
            col(Category.name),
        )
        .join(Category, col(Case.category_id) == Category.id)
        .where(*conditions)
        .order_by(col(Case.id).desc())
        .limit(limit + 1)
    )
    return list(session.execute(stmt))


def case_features(
    session: Session,
    staff: StaffUser,
    box: BBox,
    where: CaseFilter,
    *,
    now: datetime | None = None,
    limit: int = MAX_CASE_FEATURES,
) -> dict[str, Any]:
    """Open cases the staff member may see inside the box, newest first, at most ``limit``."""
    now = now or utcnow()
    rows = _case_rows(session, staff, box, where, now, limit)
    features = []
    for row in rows[:limit]:
        due = STAGE_DUE[row.status](row)
        overdue = _is_overdue(row, due, now)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(row.lng, 6), round(row.lat, 6)]},
                "properties": {
                    "case_no": row.case_no,
                    "status": row.status.value,
                    "status_label": STATUS_LABELS[row.status],
                    "category": row.name,
                    "due": to_local(due).strftime("%Y-%m-%d %H:%M") if due else "",
                    "overdue": overdue,
                },
            }
        )
    return feature_collection(features, truncated=len(rows) > limit)


def category_options(session: Session) -> list[tuple[str, str, bool]]:
    """(code, name, is_major) of the active categories, each major followed by its minors."""
    rows = session.execute(
        sa.select(
            col(Category.id),
            col(Category.code),
            col(Category.name),
            col(Category.level),
            col(Category.parent_id),
        )
        .where(col(Category.active))
        .order_by(col(Category.code))
    ).all()
    minors: dict[int | None, list[tuple[str, str, bool]]] = defaultdict(list)
    majors = []
    for row in rows:
        if row.level is CategoryLevel.MAJOR:
            majors.append(row)
        else:
            minors[row.parent_id].append((row.code, row.name, False))
    options: list[tuple[str, str, bool]] = []
    for major in majors:
        options.append((major.code, major.name, True))
        options.extend(minors.pop(major.id, []))
    for rest in minors.values():
        options.extend(rest)
    return options


# -- places -------------------------------------------------------------------------------------


def _place_rows(session: Session, box: BBox, kinds: Sequence[PlaceKind], limit: int) -> list[Place]:
    stmt: sa.Select[Place] = (
        sa.select(Place)
        .where(
            col(Place.active),
            col(Place.kind).in_(list(kinds)),
            col(Place.lng).between(box.min_lng, box.max_lng),
            col(Place.lat).between(box.min_lat, box.max_lat),
        )
        .order_by(col(Place.id))
        .limit(limit + 1)
    )
    return list(session.scalars(stmt))


def parse_kinds(values: Sequence[str]) -> tuple[PlaceKind, ...]:
    try:
        return tuple(PlaceKind(value) for value in values) if values else tuple(PlaceKind)
    except ValueError:
        raise InvalidMapQuery("设施类型应为 toilet 或 parking") from None


def place_features(
    session: Session, box: BBox, kinds: Sequence[PlaceKind], *, limit: int = MAX_PLACE_FEATURES
) -> dict[str, Any]:
    rows = _place_rows(session, box, kinds, limit)
    features = []
    for place in rows[:limit]:
        properties: dict[str, Any] = {
            "code": place.code,
            "kind": place.kind.value,
            "kind_label": place.kind.label,
            "name": place.name,
            "address": place.address,
            "open_hours": place.open_hours,
            "accessible": place.accessible,
        }
        if place.kind is PlaceKind.PARKING:
            properties["capacity"] = place.capacity
            properties["available_spaces"] = place.available_spaces
            properties["free"] = place.free
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(place.lng, 6), round(place.lat, 6)]},
                "properties": properties,
            }
        )
    return feature_collection(features, truncated=len(rows) > limit)
