"""Periods: local midnights, presets, month-on-month and year-on-year periods."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.evaluation.errors import InvalidPeriod
from core.evaluation.periods import MAX_DAYS, Period, Preset, resolve


def test_a_period_runs_from_local_midnight_to_local_midnight() -> None:
    march = Period(date(2021, 3, 1), date(2021, 4, 1))
    assert march.start_at == datetime(2021, 2, 28, 16, tzinfo=UTC)
    assert march.end_at == datetime(2021, 3, 31, 16, tzinfo=UTC)
    assert march.label == "2021年3月"
    assert Period(date(2021, 1, 1), date(2022, 1, 1)).label == "2021年"
    assert Period(date(2021, 3, 5), date(2021, 3, 8)).label == "2021-03-05 至 2021-03-07"


def test_presets() -> None:
    today = date(2021, 3, 17)
    assert resolve(Preset.THIS_MONTH, today=today) == Period(date(2021, 3, 1), date(2021, 4, 1))
    assert resolve(Preset.LAST_MONTH, today=today) == Period(date(2021, 2, 1), date(2021, 3, 1))
    assert resolve(Preset.LAST_MONTH, today=date(2021, 1, 5)) == Period(date(2020, 12, 1), date(2021, 1, 1))
    assert resolve(Preset.THIS_YEAR, today=today) == Period(date(2021, 1, 1), date(2022, 1, 1))
    custom = resolve(Preset.CUSTOM, today=today, start=date(2021, 3, 5), last=date(2021, 3, 7))
    assert custom == Period(date(2021, 3, 5), date(2021, 3, 8))  # the last day is included
    assert custom.days == 3


@pytest.mark.parametrize(
    ("start", "last", "message"),
    [
        (None, date(2021, 3, 1), "请填写"),
        (date(2021, 3, 2), date(2021, 3, 1), "不能早于"),
        (date(2015, 1, 1), date(2021, 1, 1), f"最长 {MAX_DAYS} 天"),
    ],
)
def test_invalid_custom_periods_are_refused_in_chinese(
    start: date | None, last: date | None, message: str
) -> None:
    with pytest.raises(InvalidPeriod, match=message):
        resolve(Preset.CUSTOM, today=date(2021, 3, 1), start=start, last=last)


def test_month_on_month_is_the_previous_period_of_the_same_length() -> None:
    march = Period(date(2021, 3, 1), date(2021, 4, 1))
    assert march.previous() == Period(date(2021, 2, 1), date(2021, 3, 1))  # whole months: February
    quarter = Period(date(2021, 1, 1), date(2021, 4, 1))
    assert quarter.previous() == Period(date(2020, 10, 1), date(2021, 1, 1))
    week = Period(date(2021, 3, 8), date(2021, 3, 15))
    assert week.previous() == Period(date(2021, 3, 1), date(2021, 3, 8))  # otherwise: as many days


def test_year_on_year_is_the_same_dates_a_year_earlier() -> None:
    assert Period(date(2021, 3, 1), date(2021, 4, 1)).year_ago() == Period(date(2020, 3, 1), date(2020, 4, 1))
    leap = Period(date(2024, 2, 29), date(2024, 3, 1))
    assert leap.year_ago() == Period(date(2023, 2, 28), date(2023, 3, 1))
