"""Responsibility grids (CSV) and unit grids (GeoJSON polygons, 15-digit codes)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely
from shapely import MultiPolygon, Polygon, STRtree
from shapely.geometry import mapping, shape
from shapely.validation import explain_validity
from sqlmodel import Session

from core.geo.measure import approx_area_m2
from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows, geojson_features
from core.masterdata.repository import all_by_code, areas_by_code
from core.models import AdminArea, AreaLevel, ResponsibilityGrid, UnitGrid

RESPONSIBILITY_COLUMNS = ("code", "name", "community_code")
FEATURE = "个要素"
OVERLAP_TOLERANCE_M2 = 1.0


def _communities(session: Session) -> dict[str, AdminArea]:
    return {code: area for code, area in areas_by_code(session).items() if area.level is AreaLevel.COMMUNITY}


def import_responsibility_grids(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    communities = _communities(session)
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row_no, row in csv_rows(source, RESPONSIBILITY_COLUMNS):
        code = parse.pattern(errors, row_no, "code", row["code"], r"\d{12,20}", "12–20 位数字")
        name = parse.text(errors, row_no, "name", row["name"], model=ResponsibilityGrid)
        community = communities.get(row["community_code"])
        if community is None:
            errors.add(row_no, "community_code", f"社区“{row['community_code']}”不存在")
        if code is None or name is None or community is None:
            continue
        if code in seen:
            errors.add(row_no, "code", f"编码 {code} 重复")
            continue
        seen.add(code)
        parsed.append({"code": code, "name": name, "community_id": community.id})
    errors.raise_if_any()

    stats = ImportStats()
    existing = all_by_code(session, ResponsibilityGrid)
    for item in parsed:
        upsert(session, stats, existing, item["code"], ResponsibilityGrid, item)
    session.flush()
    return stats


def _geometry(errors: ErrorCollector, index: int, raw: Any) -> Polygon | None:
    """A unit grid is one cell: a Polygon, or a MultiPolygon of exactly one part (unwrapped)."""
    if not isinstance(raw, dict) or raw.get("type") not in {"Polygon", "MultiPolygon"}:
        errors.add(index, "geometry", "几何类型应为 Polygon 或 MultiPolygon", unit=FEATURE)
        return None
    try:
        geometry = shape(raw)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, shapely.errors.ShapelyError) as exc:
        errors.add(index, "geometry", f"坐标无法解析（{exc}）", unit=FEATURE)
        return None
    if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
        errors.add(index, "geometry", "几何为空", unit=FEATURE)
        return None
    min_x, min_y, max_x, max_y = geometry.bounds
    if not (-180 <= min_x <= max_x <= 180 and -90 <= min_y <= max_y <= 90):
        errors.add(index, "geometry", "坐标超出经纬度范围（应为 WGS-84 经度、纬度）", unit=FEATURE)
        return None
    if not geometry.is_valid:
        errors.add(index, "geometry", f"多边形无效：{explain_validity(geometry)}", unit=FEATURE)
        return None
    if isinstance(geometry, MultiPolygon):
        if len(geometry.geoms) != 1:
            errors.add(
                index,
                "geometry",
                f"单元网格应为一个连续的多边形（此处有 {len(geometry.geoms)} 块）",
                unit=FEATURE,
            )
            return None
        geometry = geometry.geoms[0]
    return geometry


def _check_overlaps(
    errors: ErrorCollector,
    incoming: list[tuple[int, str, Polygon]],
    stored: list[tuple[str, Polygon]],
) -> None:
    """No grid of the file may overlap another grid of the file or a stored grid it does not replace.

    ``incoming`` holds (feature number, code, geometry); errors are reported on the file's feature.
    """
    count = len(incoming)
    codes = [code for _, code, _ in incoming] + [code for code, _ in stored]
    shapes = np.asarray(
        [geometry for _, _, geometry in incoming] + [geometry for _, geometry in stored], dtype=object
    )
    if not count:
        return
    left, right = STRtree(shapes).query(shapes[:count], predicate="intersects")
    keep = (left < right) | (right >= count)
    left, right = left[keep], right[keep]
    if not len(left):
        return
    shared = shapely.intersection(shapes[left], shapes[right])
    for i, j, piece in zip(left, right, shared, strict=True):
        if piece.area == 0:
            continue
        area_m2 = approx_area_m2(piece) if isinstance(piece, Polygon | MultiPolygon) else 0.0
        if area_m2 > OVERLAP_TOLERANCE_M2:
            reported, other = (j, i) if j < count else (i, j)
            errors.add(
                incoming[reported][0],
                "geometry",
                f"与网格 {codes[other]} 重叠（约 {area_m2:.0f} 平方米）",
                unit=FEATURE,
            )


def _stored_grids(existing: dict[str, UnitGrid], replaced: set[str]) -> list[tuple[str, Polygon]]:
    stored: list[tuple[str, Polygon]] = []
    for code, grid in existing.items():
        if code not in replaced:
            geometry = shape(json.loads(grid.geometry))
            if isinstance(geometry, Polygon):
                stored.append((code, geometry))
    return stored


def import_unit_grids(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    communities = _communities(session)
    responsibility = all_by_code(session, ResponsibilityGrid)
    parsed: list[dict[str, Any]] = []
    incoming: list[tuple[int, str, Polygon]] = []
    seen: set[str] = set()
    for index, feature in enumerate(geojson_features(source), start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(properties, dict):
            errors.add(index, "properties", "缺少属性", unit=FEATURE)
            continue
        code = parse.pattern(
            errors, index, "code", str(properties.get("code", "")), r"\d{15}", "15 位数字", unit=FEATURE
        )
        community_code = str(properties.get("community_code", ""))
        community = communities.get(community_code)
        if community is None:
            errors.add(index, "community_code", f"社区“{community_code}”不存在", unit=FEATURE)
        resp_code = str(properties.get("responsibility_grid_code") or "")
        resp = responsibility.get(resp_code) if resp_code else None
        if resp_code and resp is None:
            errors.add(index, "responsibility_grid_code", f"责任网格“{resp_code}”不存在", unit=FEATURE)
        elif resp is not None and community is not None and resp.community_id != community.id:
            errors.add(
                index,
                "responsibility_grid_code",
                f"责任网格“{resp_code}”不属于社区 {community_code}",
                unit=FEATURE,
            )
        geometry = _geometry(errors, index, feature.get("geometry"))
        if code is None or community is None or geometry is None:
            continue
        if not code.startswith(community_code):
            errors.add(index, "code", f"网格编码 {code} 应以社区编码 {community_code} 开头", unit=FEATURE)
            continue
        if code in seen:
            errors.add(index, "code", f"编码 {code} 重复", unit=FEATURE)
            continue
        seen.add(code)
        centroid = (
            geometry.representative_point() if not geometry.centroid.within(geometry) else geometry.centroid
        )
        parsed.append(
            {
                "code": code,
                "community_id": community.id,
                "responsibility_grid_id": resp.id if resp else None,
                "geometry": json.dumps(mapping(geometry), separators=(",", ":")),
                "area_m2": round(approx_area_m2(geometry), 1),
                "centroid_lng": round(centroid.x, 7),
                "centroid_lat": round(centroid.y, 7),
            }
        )
        incoming.append((index, code, geometry))
    existing = all_by_code(session, UnitGrid)
    if not errors.errors:
        _check_overlaps(errors, incoming, _stored_grids(existing, seen))
    errors.raise_if_any()

    stats = ImportStats()
    for item in parsed:
        upsert(session, stats, existing, item["code"], UnitGrid, item)
    session.flush()
    return stats
