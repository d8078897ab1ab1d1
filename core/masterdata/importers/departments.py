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


def _check_cycles(
    errors: ErrorCollector, existing: dict[str, Department], parsed: list[dict[str, object]]
) -> None:
    """A file may re-parent departments already stored: refuse any change that makes a loop."""
    code_by_id = {department.id: code for code, department in existing.items()}
    parent_of: dict[str, str] = {
        code: code_by_id[department.parent_id]
        for code, department in existing.items()
        if department.parent_id in code_by_id
    }
    for item in parsed:
        parent_of.pop(str(item["code"]), None)
        if item["parent"]:
            parent_of[str(item["code"])] = str(item["parent"])
    for item in parsed:
        chain = {str(item["code"])}
        current = parent_of.get(str(item["code"]))
        while current is not None:
            if current in chain:
                errors.add(
                    int(str(item["row"])), "parent_code", f"上级部门形成循环（{' → '.join(sorted(chain))}）"
                )
                break
            chain.add(current)
            current = parent_of.get(current)


def import_departments(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    existing = all_by_code(session, Department)
    known = set(existing)
    parsed: list[dict[str, object]] = []
    seen: set[str] = set()
    for row_no, row in csv_rows(source, COLUMNS):
        code = parse.pattern(errors, row_no, "code", row["code"], r"[A-Za-z0-9_-]{1,32}", "1–32 位字母数字")
        name = parse.text(errors, row_no, "name", row["name"], model=Department)
        contact_name = parse.text(
            errors, row_no, "contact_name", row["contact_name"], model=Department, required=False
        )
        contact_phone = parse.text(
            errors, row_no, "contact_phone", row["contact_phone"], model=Department, required=False
        )
        kind = parse.enum_value(errors, row_no, "kind", row["kind"], DepartmentKind)
        parent = row["parent_code"]
        if parent and parent not in known:
            errors.add(row_no, "parent_code", f"上级部门“{parent}”不存在（须在本行之前定义）")
            continue
        if code is None or name is None or kind is None or contact_name is None or contact_phone is None:
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
                "row": row_no,
                "contact_name": contact_name,
                "contact_phone": contact_phone,
            }
        )
    _check_cycles(errors, existing, parsed)
    errors.raise_if_any()

    stats = ImportStats()
    for item in parsed:
        item.pop("row")
        parent_code = str(item.pop("parent"))
        item["parent_id"] = existing[parent_code].id if parent_code else None
        upsert(session, stats, existing, item["code"], Department, item)
        session.flush()
    return stats
