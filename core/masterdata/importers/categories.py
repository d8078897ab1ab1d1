"""Categories, their register standards (立案标准) and routing (who handles what where)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel import Session

from core.kit.workcal import LimitKind
from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows
from core.masterdata.repository import (
    all_by_code,
    areas_by_code,
    minor_categories,
    routing_by_key,
    standards_by_key,
)
from core.models import Category, CategoryKind, CategoryLevel, Department, RegisterStandard, RoutingRule

CATEGORY_COLUMNS = ("code", "kind", "level", "parent_code", "name")
STANDARD_COLUMNS = (
    "category_code",
    "seq",
    "condition",
    "time_limit_kind",
    "time_limit_amount",
    "close_condition",
)
ROUTING_COLUMNS = ("category_code", "area_code", "department_code")
MAX_TIME_LIMIT = Decimal(1000)


def import_categories(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    existing = all_by_code(session, Category)
    known_levels = {code: category.level for code, category in existing.items()}
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row_no, row in csv_rows(source, CATEGORY_COLUMNS):
        kind = parse.enum_value(errors, row_no, "kind", row["kind"], CategoryKind)
        level = parse.enum_value(errors, row_no, "level", row["level"], CategoryLevel)
        name = parse.text(errors, row_no, "name", row["name"], model=Category)
        if kind is None or level is None or name is None:
            continue
        digits = 2 if level is CategoryLevel.MAJOR else 4
        code = parse.pattern(
            errors,
            row_no,
            "code",
            row["code"],
            rf"{kind.code_prefix}\d{{{digits}}}",
            f"{kind.code_prefix} 加 {digits} 位数字",
        )
        if code is None:
            continue
        if code in seen:
            errors.add(row_no, "code", f"编码 {code} 重复")
            continue
        parent = row["parent_code"]
        if level is CategoryLevel.MAJOR and parent:
            errors.add(row_no, "parent_code", "大类不应有上级")
            continue
        if level is CategoryLevel.MINOR:
            if known_levels.get(parent) is not CategoryLevel.MAJOR:
                errors.add(row_no, "parent_code", f"大类“{parent}”不存在（须在本行之前定义）")
                continue
            if not code.startswith(parent):
                errors.add(row_no, "code", f"小类编码 {code} 应以大类编码 {parent} 开头")
                continue
        seen.add(code)
        known_levels[code] = level
        parsed.append({"code": code, "kind": kind, "level": level, "name": name, "parent": parent})
    errors.raise_if_any()

    stats = ImportStats()
    for item in parsed:
        parent_code = item.pop("parent")
        item["parent_id"] = existing[parent_code].id if parent_code else None
        upsert(session, stats, existing, item["code"], Category, item)
        session.flush()
    return stats


def import_register_standards(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    minors = minor_categories(session)
    parsed: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for row_no, row in csv_rows(source, STANDARD_COLUMNS):
        category = minors.get(row["category_code"])
        if category is None:
            errors.add(row_no, "category_code", f"小类“{row['category_code']}”不存在")
        seq = parse.integer(errors, row_no, "seq", row["seq"], minimum=1)
        condition = parse.text(errors, row_no, "condition", row["condition"], model=RegisterStandard)
        close_condition = parse.text(
            errors, row_no, "close_condition", row["close_condition"], model=RegisterStandard
        )
        amount = parse.decimal(
            errors,
            row_no,
            "time_limit_amount",
            row["time_limit_amount"],
            low=Decimal("0.01"),
            high=MAX_TIME_LIMIT,
            places=2,
        )
        try:
            kind: LimitKind | None = LimitKind.parse(row["time_limit_kind"])
        except ValueError:
            errors.add(
                row_no,
                "time_limit_kind",
                f"“{row['time_limit_kind']}”不是时限类型（紧急工作时/工作时/工作日）",
            )
            kind = None
        if category is None or seq is None or condition is None or close_condition is None:
            continue
        if amount is None or kind is None:
            continue
        if (category.code, seq) in seen:
            errors.add(row_no, "seq", f"小类 {category.code} 的序号 {seq} 重复")
            continue
        seen.add((category.code, seq))
        parsed.append(
            {
                "category_id": category.id,
                "seq": seq,
                "condition": condition,
                "time_limit_kind": kind,
                "time_limit_amount": amount,
                "close_condition": close_condition,
            }
        )
    errors.raise_if_any()

    stats = ImportStats()
    existing = standards_by_key(session)
    for item in parsed:
        upsert(session, stats, existing, (item["category_id"], item["seq"]), RegisterStandard, item)
    session.flush()
    return stats


def import_routing(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    minors = minor_categories(session)
    areas = areas_by_code(session)
    departments = all_by_code(session, Department)
    parsed: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for row_no, row in csv_rows(source, ROUTING_COLUMNS):
        category = minors.get(row["category_code"])
        if category is None:
            errors.add(row_no, "category_code", f"小类“{row['category_code']}”不存在")
        area_code = row["area_code"]
        area = areas.get(area_code) if area_code else None
        if area_code and area is None:
            errors.add(row_no, "area_code", f"区域“{area_code}”不存在")
        department = departments.get(row["department_code"])
        if department is None:
            errors.add(row_no, "department_code", f"部门“{row['department_code']}”不存在")
        if category is None or department is None or (area_code and area is None):
            continue
        if (category.code, area_code) in seen:
            errors.add(row_no, "area_code", f"小类 {category.code} 在该区域已有派遣规则")
            continue
        seen.add((category.code, area_code))
        parsed.append(
            {"category_id": category.id, "area_id": area.id if area else None, "department_id": department.id}
        )
    errors.raise_if_any()

    stats = ImportStats()
    existing = routing_by_key(session)
    for item in parsed:
        upsert(session, stats, existing, (item["category_id"], item["area_id"]), RoutingRule, item)
    session.flush()
    return stats
