"""Departments (专业部门) with kind, parent and contact."""

from __future__ import annotations

from sqlmodel import Session

from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows
from core.masterdata.repository import all_by_code
from core.models import Department, DepartmentKind

COLUMNS = ("code", "name", "kind", "parent_code", "contact_name", "contact_phone")


def import_departments(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    existing = all_by_code(session, Department)
    known = set(existing)
    parsed: list[dict[str, object]] = []
    seen: set[str] = set()
    for row_no, row in csv_rows(source, COLUMNS):
        code = parse.pattern(errors, row_no, "code", row["code"], r"[A-Za-z0-9_-]{1,32}", "1–32 位字母数字")
        name = parse.required(errors, row_no, "name", row["name"])
        kind = parse.enum_value(errors, row_no, "kind", row["kind"], DepartmentKind)
        parent = row["parent_code"]
        if parent and parent not in known:
            errors.add(row_no, "parent_code", f"上级部门“{parent}”不存在（须在本行之前定义）")
            continue
        if code is None or name is None or kind is None:
            continue
        if code in seen:
            errors.add(row_no, "code", f"编码 {code} 重复")
            continue
        if parent == code:
            errors.add(row_no, "parent_code", "上级部门不能是自己")
            continue
        seen.add(code)
        known.add(code)
        parsed.append(
            {
                "code": code,
                "name": name,
                "kind": kind,
                "parent": parent,
                "contact_name": row["contact_name"],
                "contact_phone": row["contact_phone"],
            }
        )
    errors.raise_if_any()

    stats = ImportStats()
    for item in parsed:
        parent_code = str(item.pop("parent"))
        item["parent_id"] = existing[parent_code].id if parent_code else None
        upsert(session, stats, existing, item["code"], Department, item)
        session.flush()
    return stats
