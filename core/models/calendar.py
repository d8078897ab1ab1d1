"""Admin-entered official working-day schedules (overrides of the chinese-calendar package)."""

from __future__ import annotations

from datetime import date

from sqlmodel import Field

from core.models.base import Timestamped


class CalendarYear(Timestamped, table=True):
    """A year whose official schedule an administrator entered: its days not listed in
    ``calendar_day`` follow Monday–Friday, and the package is no longer consulted for it."""

    __tablename__ = "calendar_year"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(default="", max_length=256)
    entered_by: str = Field(default="", max_length=64)


class CalendarDay(Timestamped, table=True):
    __tablename__ = "calendar_day"

    day: date = Field(primary_key=True)
    is_workday: bool
    name: str = Field(default="", max_length=64)
