"""Public toilets and parking lots, from a CSV file or a GeoJSON FeatureCollection of points.

The first ten columns are required (the original header); ``baby_room``, ``ev_charging``, ``free`` and
``attributes`` (a JSON object) are optional. A column missing from the header leaves the stored value
alone, except ``free`` of a new place, which then follows ``fee_note`` ("免费" = free).

A ``.geojson``/``.json`` file holds the same fields as feature properties (JSON booleans, numbers and an
``attributes`` object, or the CSV's text) and the position as a WGS-84 Point; an optional property
missing from a feature leaves its stored value alone, as an absent column does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from sqlmodel import Session

from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows, geojson_features
from core.masterdata.repository import all_by_code
from core.models import Place, PlaceKind

REQUIRED_COLUMNS = (
    "code",
    "kind",
    "name",
    "address",
    "lng",
    "lat",
    "open_hours",
    "capacity",
    "fee_note",
    "accessible",
)
OPTIONAL_BOOLEANS = ("baby_room", "ev_charging", "free")
OPTIONAL_COLUMNS = (*OPTIONAL_BOOLEANS, "attributes")
# The full header, as written by the demo generator.
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_ATTRIBUTES_CHARS = 4000
FREE_NOTE = "免费"

GEOJSON_SUFFIXES = frozenset({".geojson", ".json"})
FEATURE = "个要素"
# In GeoJSON the position is the Point geometry, not properties.
REQUIRED_PROPERTIES = tuple(name for name in REQUIRED_COLUMNS if name not in {"lng", "lat"})
BOOLEAN_PROPERTIES = frozenset({"accessible", *OPTIONAL_BOOLEANS})
# Valid values for required properties that are missing or of a wrong JSON type (already reported), so
# that the feature's other fields are still checked: a file reports all its problems at once.
STAND_INS = {name: "" for name in REQUIRED_PROPERTIES} | {
    "code": "_",
    "kind": PlaceKind.TOILET.value,
    "name": "_",
}

PointReader = Callable[[], tuple[float, float] | None]


def import_places(session: Session, source: SourceFile) -> ImportStats:
    """Chooses the format by the file's extension: ``.geojson``/``.json`` or CSV (anything else)."""
    geojson = source.path.suffix.lower() in GEOJSON_SUFFIXES
    return _store(session, _parse_geojson(source) if geojson else _parse_csv(source))


def _store(session: Session, parsed: list[dict[str, Any]]) -> ImportStats:
    stats = ImportStats()
    existing = all_by_code(session, Place)
    for item in parsed:
        if "free" not in item and item["code"] not in existing:
            item["free"] = item["fee_note"] == FREE_NOTE
        upsert(session, stats, existing, item["code"], Place, item)
    session.flush()
    return stats


def _attributes(errors: ErrorCollector, row_no: int, value: str) -> tuple[bool, str | None]:
    """(valid, normalised JSON text or None for empty)."""
    if not value:
        return True, None
    if len(value) > MAX_ATTRIBUTES_CHARS:
        errors.add(row_no, "attributes", f"长度超过上限 {MAX_ATTRIBUTES_CHARS} 个字符")
        return False, None
    try:
        document = json.loads(value)
    except ValueError:
        errors.add(row_no, "attributes", "不是合法的 JSON")
        return False, None
    if not isinstance(document, dict):
        errors.add(row_no, "attributes", '应为 JSON 对象，如 {"家庭卫生间": true}')
        return False, None
    return True, json.dumps(document, ensure_ascii=False, sort_keys=True)


def _place(
    errors: ErrorCollector, number: int, row: Mapping[str, str], point: PointReader
) -> dict[str, Any] | None:
    """The values of one place, or None when any is invalid (the errors are recorded).

    ``row`` holds the text of every required field and of the optional fields present; ``point`` reads
    the position where the CSV has its columns, so the errors of a row keep the order of its fields.
    """
    code = parse.pattern(errors, number, "code", row["code"], r"[A-Za-z0-9_-]{1,32}", "1–32 位字母数字")
    kind = parse.enum_value(errors, number, "kind", row["kind"], PlaceKind)
    name = parse.text(errors, number, "name", row["name"], model=Place)
    optional = {
        field: parse.text(errors, number, field, row[field], model=Place, required=False)
        for field in ("address", "open_hours", "fee_note")
    }
    position = point()
    capacity = parse.integer(errors, number, "capacity", row["capacity"], minimum=0, optional=True)
    accessible = parse.boolean(errors, number, "accessible", row["accessible"])
    extra: dict[str, Any] = {}
    extra_ok = True
    for field in OPTIONAL_BOOLEANS:
        if field in row:
            value = parse.boolean(errors, number, field, row[field])
            extra_ok = extra_ok and value is not None
            extra[field] = value
    if "attributes" in row:
        ok, attributes = _attributes(errors, number, row["attributes"])
        extra_ok = extra_ok and ok
        extra["attributes"] = attributes
    if code is None or kind is None or name is None or position is None or accessible is None:
        return None
    if any(value is None for value in optional.values()) or not extra_ok:
        return None
    return {
        "code": code,
        "kind": kind,
        "name": name,
        "address": optional["address"],
        "lng": position[0],
        "lat": position[1],
        "open_hours": optional["open_hours"],
        "capacity": capacity,
        "fee_note": optional["fee_note"],
        "accessible": accessible,
        **extra,
    }


def _unique(
    errors: ErrorCollector, places: Iterable[tuple[int, dict[str, Any] | None]]
) -> list[dict[str, Any]]:
    """The valid places, each code once (a repeated code is an error at its second occurrence)."""
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, item in places:
        if item is None:
            continue
        if item["code"] in seen:
            errors.add(number, "code", f"编码 {item['code']} 重复")
            continue
        seen.add(item["code"])
        parsed.append(item)
    return parsed


# CSV ---------------------------------------------------------------------------------------------------


def _parse_csv(source: SourceFile) -> list[dict[str, Any]]:
    errors = ErrorCollector(source.name)

    def places() -> Iterable[tuple[int, dict[str, Any] | None]]:
        for row_no, row in csv_rows(source, REQUIRED_COLUMNS):
            yield row_no, _place(errors, row_no, row, partial(_csv_point, errors, row_no, row))

    parsed = _unique(errors, places())
    errors.raise_if_any()
    return parsed


def _csv_point(errors: ErrorCollector, row_no: int, row: Mapping[str, str]) -> tuple[float, float] | None:
    lng = parse.coordinate(errors, row_no, "lng", row["lng"], limit=180)
    lat = parse.coordinate(errors, row_no, "lat", row["lat"], limit=90)
    return None if lng is None or lat is None else (lng, lat)


# GeoJSON -----------------------------------------------------------------------------------------------


class FeatureErrors(ErrorCollector):
    """Positions are feature numbers: the shared field parsers report every error as a row ("行")."""

    def add(self, row: int | None, field: str | None, problem: str, *, unit: str = FEATURE) -> None:
        super().add(row, field, problem, unit=FEATURE)


def _parse_geojson(source: SourceFile) -> list[dict[str, Any]]:
    errors = FeatureErrors(source.name)

    def places() -> Iterable[tuple[int, dict[str, Any] | None]]:
        for index, feature in enumerate(geojson_features(source), start=1):
            yield index, _feature_place(errors, index, feature)

    parsed = _unique(errors, places())
    errors.raise_if_any()
    return parsed


def _feature_place(errors: ErrorCollector, index: int, feature: Any) -> dict[str, Any] | None:
    if not isinstance(feature, dict):
        errors.add(index, None, "应为 GeoJSON Feature 对象")
        return None
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        errors.add(index, "properties", "缺少属性")
        _point(errors, index, feature)
        return None
    row: dict[str, str] = {}
    valid = True
    for name in (*REQUIRED_PROPERTIES, *OPTIONAL_COLUMNS):
        if name not in properties:
            if name in REQUIRED_PROPERTIES:
                errors.add(index, name, "缺少该属性")
                valid = False
            continue
        value = _property_text(errors, index, name, properties[name])
        if value is None:
            valid = False
        else:
            row[name] = value
    place = _place(errors, index, {**STAND_INS, **row}, partial(_point, errors, index, feature))
    return place if valid else None


def _property_text(errors: ErrorCollector, index: int, name: str, value: Any) -> str | None:
    """A property as the CSV would hold it (null = empty), or None after recording a wrong JSON type."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and not math.isfinite(value):
        errors.add(index, name, f"“{value}”不是有效的数字")
        return None
    if name == "attributes":
        if isinstance(value, dict | list | bool | int | float):
            # Serialised to be checked as the CSV's text is (a JSON object, its length).
            return json.dumps(value, ensure_ascii=False)
    elif name in BOOLEAN_PROPERTIES:
        if isinstance(value, bool | int):
            return str(value).lower()
    elif name == "capacity":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    errors.add(index, name, f"应为{_expected(name)}，不能是 JSON {_json_type(value)}")
    return None


def _expected(name: str) -> str:
    if name == "attributes":
        return " JSON 对象"
    if name in BOOLEAN_PROPERTIES:
        return "布尔值（true/false）"
    if name == "capacity":
        return "整数"
    return "文本"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "布尔值"
    if isinstance(value, int | float):
        return "数字"
    if isinstance(value, dict):
        return "对象"
    if isinstance(value, list):
        return "数组"
    return type(value).__name__


def _point(errors: ErrorCollector, index: int, feature: Mapping[str, Any]) -> tuple[float, float] | None:
    """(lng, lat) of a Point geometry in WGS-84; an optional third value (altitude) is ignored."""
    geometry = feature.get("geometry")
    if geometry is None:
        errors.add(index, "geometry", "缺少几何（应为 Point）")
        return None
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind != "Point":
        found = f"（此处为 {kind}）" if isinstance(kind, str) else ""
        errors.add(index, "geometry", f"几何类型应为 Point{found}")
        return None
    coordinates = geometry.get("coordinates")
    if (
        not isinstance(coordinates, list)
        or len(coordinates) not in {2, 3}
        or not all(isinstance(value, int | float) and not isinstance(value, bool) for value in coordinates)
    ):
        errors.add(index, "geometry", "坐标应为 [经度, 纬度] 两个数字")
        return None
    lng, lat = float(coordinates[0]), float(coordinates[1])
    if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180 and -90 <= lat <= 90):
        errors.add(index, "geometry", f"坐标 [{lng}, {lat}] 超出经纬度范围（应为 WGS-84 [经度, 纬度]）")
        return None
    return lng, lat
