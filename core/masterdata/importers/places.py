"""Public toilets and parking lots.

The first ten columns are required (the original header); ``baby_room``, ``ev_charging``, ``free`` and
``attributes`` (a JSON object) are optional. A column missing from the header leaves the stored value
alone, except ``free`` of a new place, which then follows ``fee_note`` ("免费" = free).
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows
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


def import_places(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row_no, row in csv_rows(source, REQUIRED_COLUMNS):
        code = parse.pattern(errors, row_no, "code", row["code"], r"[A-Za-z0-9_-]{1,32}", "1–32 位字母数字")
        kind = parse.enum_value(errors, row_no, "kind", row["kind"], PlaceKind)
        name = parse.text(errors, row_no, "name", row["name"], model=Place)
        optional = {
            field: parse.text(errors, row_no, field, row[field], model=Place, required=False)
            for field in ("address", "open_hours", "fee_note")
        }
        lng = parse.coordinate(errors, row_no, "lng", row["lng"], limit=180)
        lat = parse.coordinate(errors, row_no, "lat", row["lat"], limit=90)
        capacity = parse.integer(errors, row_no, "capacity", row["capacity"], minimum=0, optional=True)
        accessible = parse.boolean(errors, row_no, "accessible", row["accessible"])
        extra: dict[str, Any] = {}
        extra_ok = True
        for field in OPTIONAL_BOOLEANS:
            if field in row:
                value = parse.boolean(errors, row_no, field, row[field])
                extra_ok = extra_ok and value is not None
                extra[field] = value
        if "attributes" in row:
            ok, attributes = _attributes(errors, row_no, row["attributes"])
            extra_ok = extra_ok and ok
            extra["attributes"] = attributes
        if code is None or kind is None or name is None or lng is None or lat is None or accessible is None:
            continue
        if any(value is None for value in optional.values()) or not extra_ok:
            continue
        if code in seen:
            errors.add(row_no, "code", f"编码 {code} 重复")
            continue
        seen.add(code)
        parsed.append(
            {
                "code": code,
                "kind": kind,
                "name": name,
                "address": optional["address"],
                "lng": lng,
                "lat": lat,
                "open_hours": optional["open_hours"],
                "capacity": capacity,
                "fee_note": optional["fee_note"],
                "accessible": accessible,
                **extra,
            }
        )
    errors.raise_if_any()

    stats = ImportStats()
    existing = all_by_code(session, Place)
    for item in parsed:
        if "free" not in item and item["code"] not in existing:
            item["free"] = item["fee_note"] == FREE_NOTE
        upsert(session, stats, existing, item["code"], Place, item)
    session.flush()
    return stats
