"""Evaluation periods: half-open ranges of local (Asia/Shanghai) dates ``[start, end)``.

A period starts at local midnight of ``start`` and ends just before local midnight of ``end``. The
comparison periods:

- **month-on-month (环比)**: the previous period of the same length. A period of whole calendar months
  (starting and ending on the 1st) moves back by that many calendar months, so March compares with
  February (not with the 31 days before 1 March); any other period moves back by its number of days.
- **year-on-year (同比)**: the same dates one year earlier (29 February becomes 28 February).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from core.evaluation.errors import InvalidPeriod
from core.kit.clock import SHANGHAI

# A custom period longer than this is refused (a ten-year evaluation is a report, not a page).
MAX_DAYS = 3 * 366


class Preset(StrEnum):
    THIS_MONTH = "this_month"
    LAST_MONTH = "last_month"
    THIS_YEAR = "this_year"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        return PRESET_LABELS[self]


PRESET_LABELS = {
    Preset.THIS_MONTH: "本月",
    Preset.LAST_MONTH: "上月",
    Preset.THIS_YEAR: "本年",
    Preset.CUSTOM: "自定义",
}


def local_midnight(day: date) -> datetime:
    """The UTC instant of local midnight at the start of ``day``."""
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return _safe_date(year, month + 1, day.day)


def _safe_date(year: int, month: int, day: int) -> date:
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


@dataclass(frozen=True)
class Period:
    start: date  # first local day, included
    end: date  # first local day after the period, excluded

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidPeriod("结束日期不能早于开始日期")

    @property
    def start_at(self) -> datetime:
        return local_midnight(self.start)

    @property
    def end_at(self) -> datetime:
        return local_midnight(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def whole_months(self) -> int:
        """How many calendar months the period spans exactly (0 when it is not whole months)."""
        if self.start.day != 1 or self.end.day != 1:
            return 0
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    @property
    def label(self) -> str:
        if self.whole_months == 1:
            return f"{self.start.year}年{self.start.month}月"
        if self.whole_months == 12 and self.start.month == 1:
            return f"{self.start.year}年"
        return f"{self.start:%Y-%m-%d} 至 {self.last_day:%Y-%m-%d}"

    def previous(self) -> Period:
        """The month-on-month comparison period (环比)."""
        months = self.whole_months
        if months:
            return Period(_add_months(self.start, -months), self.start)
        return Period(self.start - timedelta(days=self.days), self.start)

    def year_ago(self) -> Period:
        """The year-on-year comparison period (同比)."""
        return Period(
            _safe_date(self.start.year - 1, self.start.month, self.start.day),
            _safe_date(self.end.year - 1, self.end.month, self.end.day),
        )


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    return Period(first, _add_months(first, 1))


def resolve(preset: Preset, *, today: date, start: date | None = None, last: date | None = None) -> Period:
    """The period a preset means on ``today`` (local). A custom period names its first and last day
    (both included, as people say it)."""
    if preset is Preset.THIS_MONTH:
        return month_of(today)
    if preset is Preset.LAST_MONTH:
        return month_of(_add_months(today.replace(day=1), -1))
    if preset is Preset.THIS_YEAR:
        return Period(date(today.year, 1, 1), date(today.year + 1, 1, 1))
    if start is None or last is None:
        raise InvalidPeriod("自定义时段请填写开始日期和结束日期")
    if last < start:
        raise InvalidPeriod("结束日期不能早于开始日期")
    period = Period(start, last + timedelta(days=1))
    if period.days > MAX_DAYS:
        raise InvalidPeriod(f"自定义时段最长 {MAX_DAYS} 天")
    return period
