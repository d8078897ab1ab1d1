"""Official holiday schedules entered by administrators (overrides the chinese-calendar package)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlmodel import Session

from core.calendar.service import DayEntry, enter_year
from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats
from core.masterdata.readers import SourceFile, csv_rows

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
        is_workday = parse.boolean(errors, row_no, "is_workday", row["is_workday"])
        if is_workday is None:
            continue
        if day in seen:
            errors.add(row_no, "date", f"日期 {day.isoformat()} 重复")
            continue
        seen.add(day)
        years[day.year].append(DayEntry(day, is_workday, row["name"]))
    if not years and not errors.errors:
        errors.add(None, None, "文件中没有任何日期")
    errors.raise_if_any()
    stats = ImportStats()
    for year, days in sorted(years.items()):
        enter_year(session, year=year, days=days, source=source.name, entered_by=entered_by)
        stats.rows += len(days)
        stats.created += len(days)
    return stats
