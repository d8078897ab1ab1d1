"""Administrative areas: district (6-digit code) → street (9) → community (12)."""

from __future__ import annotations

from sqlmodel import Session

from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows
from core.masterdata.repository import areas_by_code
from core.models import AdminArea, AreaLevel

CODE_LENGTH = {AreaLevel.DISTRICT: 6, AreaLevel.STREET: 9, AreaLevel.COMMUNITY: 12}
PARENT_LEVEL = {AreaLevel.STREET: AreaLevel.DISTRICT, AreaLevel.COMMUNITY: AreaLevel.STREET}
COLUMNS = ("code", "name", "level", "parent_code")


def import_areas(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    existing = areas_by_code(session)
    levels: dict[str, AreaLevel] = {code: area.level for code, area in existing.items()}
    parsed: list[tuple[str, str, AreaLevel, str]] = []
    seen: set[str] = set()
    for row_no, row in csv_rows(source, COLUMNS):
        level = parse.enum_value(errors, row_no, "level", row["level"], AreaLevel)
        name = parse.text(errors, row_no, "name", row["name"], model=AdminArea)
        if level is None or name is None:
            continue
        length = CODE_LENGTH[level]
        code = parse.pattern(errors, row_no, "code", row["code"], rf"\d{{{length}}}", f"{length} 位数字")
        if code is None:
            continue
        if code in seen:
            errors.add(row_no, "code", f"编码 {code} 重复")
            continue
        seen.add(code)
        parent = row["parent_code"]
        if level is AreaLevel.DISTRICT:
            if parent:
                errors.add(row_no, "parent_code", "区县不应有上级")
                continue
        elif levels.get(parent) is not PARENT_LEVEL[level]:
            errors.add(row_no, "parent_code", f"上级“{parent}”不存在或不是{PARENT_LEVEL[level].label}")
            continue
        elif not code.startswith(parent):
            errors.add(row_no, "code", f"编码 {code} 应以上级编码 {parent} 开头")
            continue
        levels[code] = level
        parsed.append((code, name, level, parent))
    errors.raise_if_any()

    stats = ImportStats()
    for code, name, level, parent in parsed:
        parent_id = existing[parent].id if parent else None
        upsert(
            session,
            stats,
            existing,
            code,
            AdminArea,
            {"code": code, "name": name, "level": level, "parent_id": parent_id},
        )
        session.flush()
    return stats
