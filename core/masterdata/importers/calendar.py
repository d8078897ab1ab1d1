"""Official holiday schedules entered by administrators (overrides the chinese-calendar package)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlmodel import Session

from core.calendar.repository import days_of_year
from core.calendar.service import FIRST_SUPPORTED_YEAR, LAST_SUPPORTED_YEAR, DayEntry, enter_year
from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats
from core.masterdata.readers import SourceFile, csv_rows
from core.models import CalendarDay

COLUMNS = ("date", "is_workday", "name")


def import_calendar(session: Session, source: SourceFile, *, entered_by: str = "import") -> ImportStats:
    """One row per exceptional day: holidays (is_workday false) and adjusted working days (true).
    Every year present in the file is entered as a whole and replaces what was entered before."""
    errors = ErrorCollector(source.name)
    years: dict[int, list[DayEntry]] = defaultdict(list)
    seen: set[date] = set()
    for row_no, row in csv_rows(source, COLUMNS):
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            errors.add(row_no, "date", f"“{row['date']}”不是日期（YYYY-MM-DD）")
            continue
        if not FIRST_SUPPORTED_YEAR <= day.year <= LAST_SUPPORTED_YEAR:
            errors.add(
                row_no, "date", f"年份 {day.year} 超出范围（{FIRST_SUPPORTED_YEAR}–{LAST_SUPPORTED_YEAR}）"
            )
            continue
        is_workday = parse.boolean(errors, row_no, "is_workday", row["is_workday"])
        name = parse.text(errors, row_no, "name", row["name"], model=CalendarDay, required=False)
        if is_workday is None or name is None:
            continue
        if day in seen:
            errors.add(row_no, "date", f"日期 {day.isoformat()} 重复")
            continue
        seen.add(day)
        years[day.year].append(DayEntry(day, is_workday, name))
    if not years and not errors.errors:
        errors.add(None, None, "文件中没有任何日期")
    errors.raise_if_any()
    stats = ImportStats()
    for year, days in sorted(years.items()):
        before = {row.day: (row.is_workday, row.name) for row in days_of_year(session, year)}
        enter_year(session, year=year, days=days, source=source.name, entered_by=entered_by)
        stats.rows += len(days)
        stats.created += sum(1 for entry in days if entry.day not in before)
        stats.updated += sum(
            1 for entry in days if entry.day in before and before[entry.day] != (entry.is_workday, entry.name)
        )
        stats.updated += len(before.keys() - {entry.day for entry in days})  # days the new schedule drops
    return stats
