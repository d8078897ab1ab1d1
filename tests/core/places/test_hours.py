"""Opening hours: ranges, 24 h, several ranges, overnight; evaluated in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.places.hours import open_now, parse_hours


def local(hour: int, minute: int = 0) -> datetime:
    """An instant at this Beijing wall-clock time (UTC+8) on 2026-11-21."""
    return datetime(2026, 11, 21, (hour - 8) % 24, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "hour", "minute", "expected"),
    [
        ("00:00-24:00", 0, 0, True),
        ("00:00-24:00", 23, 59, True),
        ("24小时", 3, 0, True),
        ("06:00-22:00", 5, 59, False),
        ("06:00-22:00", 6, 0, True),
        ("06:00-22:00", 21, 59, True),
        ("06:00-22:00", 22, 0, False),
        ("06:00-12:00,14:00-22:00", 13, 0, False),
        ("06:00-12:00,14:00-22:00", 14, 30, True),
        ("06:00-12:00, 14:00-22:00", 11, 59, True),
        ("20:00-06:00", 23, 0, True),
        ("20:00-06:00", 2, 0, True),
        ("20:00-06:00", 6, 0, False),
        ("20:00-06:00", 12, 0, False),
        ("20:00-06:00", 20, 0, True),
    ],
)
def test_open_now(hours: str, hour: int, minute: int, expected: bool) -> None:
    assert open_now(hours, local(hour, minute)) is expected


def test_evaluated_in_shanghai_not_utc() -> None:
    # 23:30 UTC is 07:30 the next morning in Beijing.
    instant = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert open_now("06:00-22:00", instant) is True
    assert open_now("20:00-06:00", instant) is False


@pytest.mark.parametrize("text", ["", "全天候", "06:00", "25:00-26:00", "06:00-06:00", "06:70-08:00", "abc"])
def test_unknown_hours(text: str) -> None:
    assert parse_hours(text) is None
    assert open_now(text, local(12)) is None


def test_all_day() -> None:
    hours = parse_hours("00:00-24:00")
    assert hours is not None
    assert hours.all_day


def test_naive_instant_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        open_now("06:00-22:00", datetime(2026, 11, 21, 12, 0))
