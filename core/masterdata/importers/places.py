"""Public toilets and parking lots."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows
from core.masterdata.repository import all_by_code
from core.models import Place, PlaceKind

COLUMNS = (
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


def import_places(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row_no, row in csv_rows(source, COLUMNS):
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
        if code is None or kind is None or name is None or lng is None or lat is None or accessible is None:
            continue
        if any(value is None for value in optional.values()):
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
            }
        )
    errors.raise_if_any()

    stats = ImportStats()
    existing = all_by_code(session, Place)
    for item in parsed:
        upsert(session, stats, existing, item["code"], Place, item)
    session.flush()
    return stats
