"""The calendar as deadline code sees it: package + admin-entered years from the database, and a
visible warning (never a crash) for a year nobody has entered."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from core.calendar import service as calendar_service
from core.calendar.service import DayEntry, enter_year, get_calendar, warnings_for
from core.errors import Invalid
from core.kit.workcal import DaySource, LimitKind
from core.masterdata.errors import ImportFailed
from core.masterdata.service import import_file

TODAY = date(2026, 11, 21)


def test_unknown_next_year_warns_and_falls_back_to_weekdays(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    warnings = warnings_for(session, today=TODAY)
    assert len(warnings) == 1
    assert "2027 年" in warnings[0]
    calendar = get_calendar(session)
    assert calendar.year_source(2026) is DaySource.PACKAGE
    assert calendar.year_source(2027) is DaySource.FALLBACK
    with caplog.at_level(logging.WARNING, logger="zhcg.calendar"):
        # A deadline set late in 2026 reaches into 2027: computed, not raised.
        start = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)  # Wed 10:00 in Shanghai
        deadline = calendar.add(start, 5, LimitKind.WORK_DAYS)
    assert deadline > start
    assert any("2027" in record.getMessage() for record in caplog.records)


def test_check_years_logs_the_warning(session: Session, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zhcg.calendar"):
        assert calendar_service.check_years(session, today=TODAY)
    assert any("2027" in record.getMessage() for record in caplog.records)


def test_entered_year_is_used_and_silences_the_warning(session: Session) -> None:
    enter_year(
        session,
        year=2027,
        days=[
            DayEntry(date(2027, 1, 1), False, "元旦"),
            DayEntry(date(2027, 2, 7), True, "春节调休上班"),  # a Sunday made a working day
        ],
        source="国务院办公厅通知（测试）",
        entered_by="admin",
    )
    calendar = get_calendar(session)
    assert calendar.year_source(2027) is DaySource.OVERRIDE
    assert not calendar.is_workday(date(2027, 1, 1))  # Friday, holiday
    assert calendar.is_workday(date(2027, 2, 7))  # Sunday, adjusted working day
    assert calendar.is_workday(date(2027, 1, 4))  # ordinary Monday
    assert not calendar.is_workday(date(2027, 1, 9))  # ordinary Saturday
    assert warnings_for(session, today=TODAY) == []


def test_entering_a_year_again_replaces_it(session: Session) -> None:
    enter_year(session, year=2027, days=[DayEntry(date(2027, 1, 1), False)], source="v1", entered_by="a")
    enter_year(session, year=2027, days=[DayEntry(date(2027, 1, 4), False)], source="v2", entered_by="a")
    calendar = get_calendar(session)
    assert calendar.is_workday(date(2027, 1, 1)) is True  # Friday again, v1's holiday is gone
    assert calendar.is_workday(date(2027, 1, 4)) is False


@pytest.mark.parametrize(
    ("days", "code"),
    [
        ([DayEntry(date(2028, 1, 1), False)], "calendar_day_outside_year"),
        ([DayEntry(date(2027, 1, 1), False), DayEntry(date(2027, 1, 1), True)], "calendar_day_duplicate"),
    ],
)
def test_bad_entries_are_refused(session: Session, days: list[DayEntry], code: str) -> None:
    with pytest.raises(Invalid) as info:
        enter_year(session, year=2027, days=days, source="x", entered_by="a")
    assert info.value.code == code


def test_calendar_file_import(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "calendar.csv"
    path.write_text("date,is_workday,name\n2027-01-01,false,元旦\n2027-02-07,true,调休\n", encoding="utf-8")
    result = import_file(session, "calendar", path)
    assert result.stats.rows == 2
    assert get_calendar(session).year_source(2027) is DaySource.OVERRIDE


def test_calendar_file_with_bad_date_names_row_and_field(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "calendar.csv"
    path.write_text("date,is_workday,name\n2027-01-01,false,元旦\n2027-02-30,true,调休\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as info:
        import_file(session, "calendar", path)
    assert "calendar.csv 第3行 字段“date”" in info.value.message
    assert get_calendar(session).year_source(2027) is DaySource.FALLBACK


def test_a_rolled_back_schedule_does_not_stay_cached(session: Session) -> None:
    enter_year(session, year=2027, days=[DayEntry(date(2027, 1, 4), False)], source="x", entered_by="a")
    assert get_calendar(session).is_workday(date(2027, 1, 4)) is False  # cached inside the transaction
    session.rollback()
    assert get_calendar(session).is_workday(date(2027, 1, 4)) is True


def test_the_calendar_is_reused_while_overrides_are_unchanged(session: Session) -> None:
    first = get_calendar(session)
    assert get_calendar(session) is first
    assert get_calendar(session, max_age_s=0) is first  # checked against the database: unchanged
    enter_year(session, year=2027, days=[DayEntry(date(2027, 1, 1), False)], source="x", entered_by="a")
    assert get_calendar(session, max_age_s=0) is not first
