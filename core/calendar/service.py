"""The working-time calendar as the rest of zhcg uses it: working hours from settings, official
schedule from the chinese-calendar package, admin-entered years and days from the database.

``get_calendar(session)`` is what deadline code calls. It is cached per process and rebuilt when an
administrator changes the overrides here, or at the latest after ``CACHE_TTL_S`` (other processes).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from core.calendar import repository
from core.db import on_transaction_end
from core.errors import Invalid
from core.kit.clock import utcnow
from core.kit.workcal import DaySource, WorkCalendar, WorkingHours
from core.models import CalendarDay, CalendarYear
from core.settings import Settings, get_settings

log = logging.getLogger("zhcg.calendar")

CACHE_TTL_S = 60.0
FIRST_SUPPORTED_YEAR = 2000
LAST_SUPPORTED_YEAR = 2100


@dataclass(frozen=True)
class DayEntry:
    day: date
    is_workday: bool
    name: str = ""


class _Cache:
    """One calendar per process, reused while the overrides are unchanged (so its day cache and its
    once-per-year fallback warning live as long as the data they were built from)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calendar: WorkCalendar | None = None
        self.signature: tuple[object, ...] = ()
        self.hours_spec: str | None = None
        self.checked_at = 0.0
        self.generation = 0

    def invalidate(self) -> None:
        with self.lock:
            self.calendar = None
            self.generation += 1


_cache = _Cache()


def invalidate_cache() -> None:
    _cache.invalidate()


def build_calendar(session: Session, settings: Settings) -> WorkCalendar:
    return WorkCalendar(
        WorkingHours.parse(settings.calendar.working_hours, tz=settings.app.timezone),
        overrides=repository.override_days(session),
        override_years=repository.entered_years(session),
    )


def get_calendar(
    session: Session, settings: Settings | None = None, *, max_age_s: float = CACHE_TTL_S
) -> WorkCalendar:
    """The calendar for deadline code. ``max_age_s`` bounds how long a cached calendar is trusted
    without asking the database whether the overrides changed (0: ask now)."""
    settings = settings or get_settings()
    spec = settings.calendar.working_hours
    now = time.monotonic()
    with _cache.lock:
        cached, signature, generation = _cache.calendar, _cache.signature, _cache.generation
        if cached is not None and _cache.hours_spec == spec and now - _cache.checked_at < max_age_s:
            return cached
    current = repository.signature(session)
    if cached is not None and _cache.hours_spec == spec and current == signature:
        with _cache.lock:
            _cache.checked_at = now
        return cached
    calendar = build_calendar(session, settings)
    with _cache.lock:
        if _cache.generation == generation:  # nobody invalidated while this one was built
            _cache.calendar, _cache.signature, _cache.hours_spec = calendar, current, spec
            _cache.checked_at = now
    return calendar


def enter_year(
    session: Session, *, year: int, days: list[DayEntry], source: str, entered_by: str
) -> CalendarYear:
    """Record a year's official schedule: its holidays (is_workday False) and adjusted working days
    (is_workday True). Replaces what was entered for that year before."""
    if not FIRST_SUPPORTED_YEAR <= year <= LAST_SUPPORTED_YEAR:
        raise Invalid("calendar_year_invalid", f"年份 {year} 超出范围")
    seen: set[date] = set()
    for entry in days:
        if entry.day.year != year:
            raise Invalid("calendar_day_outside_year", f"日期 {entry.day.isoformat()} 不属于 {year} 年")
        if entry.day in seen:
            raise Invalid("calendar_day_duplicate", f"日期 {entry.day.isoformat()} 重复")
        seen.add(entry.day)
    repository.delete_days_of_year(session, year)
    record = repository.get_year(session, year) or CalendarYear(year=year)
    record.source, record.entered_by, record.updated_at = source, entered_by, utcnow()
    session.add(record)
    for entry in days:
        session.add(CalendarDay(day=entry.day, is_workday=entry.is_workday, name=entry.name))
    session.flush()
    invalidate_cache()
    on_transaction_end(session, invalidate_cache)  # readers in this transaction saw uncommitted days
    return record


def year_warnings(calendar: WorkCalendar, years: list[int]) -> list[str]:
    """Console/log text for years whose schedule nobody knows (Monday–Friday is assumed)."""
    return [
        f"{year} 年的法定节假日安排尚未录入，工作时间暂按周一至周五计算，请管理员录入当年官方放假安排。"
        for year in years
        if calendar.year_source(year) is DaySource.FALLBACK
    ]


def warnings_for(session: Session, *, today: date, settings: Settings | None = None) -> list[str]:
    """Warnings for this year and the next (deadlines set late in a year reach into the next)."""
    return year_warnings(get_calendar(session, settings), [today.year, today.year + 1])


def check_years(session: Session, *, today: date) -> list[str]:
    warnings = warnings_for(session, today=today)
    for message in warnings:
        log.warning("calendar: %s", message)
    return warnings


# --------------------------------------------------------------------------- single override days


def _changed(session: Session) -> None:
    invalidate_cache()
    on_transaction_end(session, invalidate_cache)


def _check_year(year: int) -> None:
    if not FIRST_SUPPORTED_YEAR <= year <= LAST_SUPPORTED_YEAR:
        raise Invalid(
            "calendar_year_invalid", f"年份 {year} 超出范围（{FIRST_SUPPORTED_YEAR}–{LAST_SUPPORTED_YEAR}）"
        )


def set_day(session: Session, *, day: date, is_workday: bool, name: str = "") -> tuple[CalendarDay, bool]:
    """Enter one holiday (is_workday False) or adjusted working day (True), replacing what was entered
    for that date; (the day, whether it was new). The year's other days are unaffected."""
    _check_year(day.year)
    name = name.strip()
    if len(name) > 64:
        raise Invalid("calendar_name_too_long", "名称不能超过 64 个字符")
    row = repository.get_day(session, day)
    created = row is None
    if row is None:
        row = CalendarDay(day=day, is_workday=is_workday, name=name)
    else:
        row.is_workday, row.name, row.updated_at = is_workday, name, utcnow()
    session.add(row)
    session.flush()
    _changed(session)
    return row, created


def remove_day(session: Session, *, day: date) -> None:
    """Remove an entered day: the date follows the year's schedule again."""
    row = repository.get_day(session, day)
    if row is None:
        raise Invalid("calendar_day_not_entered", f"{day.isoformat()} 没有录入过")
    session.delete(row)
    session.flush()
    _changed(session)


def mark_year_entered(session: Session, *, year: int, source: str, entered_by: str) -> CalendarYear:
    """Record that the year's official schedule is completely entered (its entered days stay as they
    are; days not entered are Monday–Friday), which silences the unknown-year warning."""
    _check_year(year)
    record = repository.get_year(session, year) or CalendarYear(year=year)
    record.source, record.entered_by, record.updated_at = source[:256], entered_by[:64], utcnow()
    session.add(record)
    session.flush()
    _changed(session)
    return record


def unmark_year(session: Session, *, year: int) -> None:
    """Undo ``mark_year_entered`` (the entered days stay)."""
    record = repository.get_year(session, year)
    if record is None:
        raise Invalid("calendar_year_not_entered", f"{year} 年没有标记为已录入")
    session.delete(record)
    session.flush()
    _changed(session)
