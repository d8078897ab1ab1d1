"""Working-time calendar: limit kinds, working hours, day kinds and deadline arithmetic."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from core.kit.workcal import DaySource, LimitKind, SlaClock, WorkCalendar, WorkingHours

SH = ZoneInfo("Asia/Shanghai")
HOURS = WorkingHours.parse("08:30-12:00,14:00-17:30")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def cal(**kwargs: object) -> WorkCalendar:
    return WorkCalendar(HOURS, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("urgent_hours", LimitKind.URGENT_HOURS),
        ("紧急工作时", LimitKind.URGENT_HOURS),
        ("work_hours", LimitKind.WORK_HOURS),
        (" 工作时 ", LimitKind.WORK_HOURS),
        ("WORK_DAYS", LimitKind.WORK_DAYS),
        ("工作日", LimitKind.WORK_DAYS),
    ],
)
def test_limit_kind_parse(text: str, kind: LimitKind) -> None:
    assert LimitKind.parse(text) is kind


@pytest.mark.parametrize("text", ["", "hours", "自然日", "工作"])
def test_limit_kind_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="时限类型"):
        LimitKind.parse(text)


def test_limit_kind_labels() -> None:
    assert [k.label for k in LimitKind] == ["紧急工作时", "工作时", "工作日"]


def test_working_hours_parse() -> None:
    hours = WorkingHours.parse(" 14:00-17:30 ，8:30 - 12:00")
    assert hours.periods == ((time(8, 30), time(12)), (time(14), time(17, 30)))
    assert hours.day_length == timedelta(hours=7)
    assert hours.tz == SH
    assert str(hours) == "08:30-12:00,14:00-17:30"
    assert WorkingHours.parse("09:00-17:00", tz="Europe/Berlin").tz == ZoneInfo("Europe/Berlin")
    assert WorkingHours.parse("08:00-12:00,12:00-13:00").day_length == timedelta(hours=5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "不能为空"),
        (" , ", "不能为空"),
        ("08:30", "格式错误"),
        ("8h-12h", "格式错误"),
        ("08:30-25:00", "超出范围"),
        ("08:60-12:00", "超出范围"),
        ("12:00-08:30", "早于结束"),
        ("08:30-08:30", "早于结束"),
        ("08:30-12:00,11:00-17:30", "重叠"),
    ],
)
def test_working_hours_parse_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.parse(spec)


def test_working_hours_rejects_unknown_zone_and_direct_overlap() -> None:
    with pytest.raises(ValueError, match="时区"):
        WorkingHours.parse("08:30-12:00", tz="Mars/Olympus")
    with pytest.raises(ValueError, match="重叠"):
        WorkingHours(periods=((time(14), time(17)), (time(8), time(12))))


# --------------------------------------------------------------------------- day kinds


def _national_day_2026() -> tuple[list[date], list[date]]:
    """Holidays and adjusted working weekend days around 2026 National Day, per the package."""
    holidays, adjusted = [], []
    for offset in range(30):
        day = date(2026, 9, 15) + timedelta(days=offset)
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if name == "National Day":
            (holidays if on_holiday else adjusted).append(day)
    return holidays, adjusted


def test_package_schedule_2026_national_day() -> None:
    holidays, adjusted = _national_day_2026()
    c = cal()
    assert holidays
    assert adjusted
    assert all(not c.is_workday(d) for d in holidays)
    assert all(c.is_workday(d) and d.weekday() >= 5 for d in adjusted)
    assert c.day_source(date(2026, 10, 1)) is DaySource.PACKAGE
    assert c.year_source(2026) is DaySource.PACKAGE


def test_work_days_deadline_crosses_2026_national_day() -> None:
    holidays, adjusted = _national_day_2026()
    last_before = min(holidays) - timedelta(days=1)
    saturday = next(d for d in adjusted if d > max(holidays))
    c = cal()
    assert c.is_workday(last_before)
    # Start at 14:00 on the last working day before the holiday: 3.5 h left that day.
    start = datetime.combine(last_before, time(14), tzinfo=SH)
    workdays_after = [
        max(holidays) + timedelta(days=i)
        for i in range(1, 10)
        if c.is_workday(max(holidays) + timedelta(days=i))
    ]
    assert saturday in workdays_after
    # 3 working days = 21 h: 3.5 h + 7 h + 7 h + 3.5 h -> third working day after the holiday, 12:00.
    deadline = c.add(start, 3, LimitKind.WORK_DAYS)
    assert deadline == datetime.combine(workdays_after[2], time(12), tzinfo=SH)
    assert deadline.tzinfo is UTC
    # In 2026 that third working day is the adjusted Saturday (调休).
    assert workdays_after[2] == saturday
    assert c.elapsed_amount(start, deadline, LimitKind.WORK_DAYS) == 3.0


def test_concrete_2026_national_day_schedule() -> None:
    c = cal()
    # 2026: Oct 1-7 off, Sat Oct 10 worked (adjusted), Sun Sep 20 worked.
    assert c.add(at(2026, 9, 30, 17, 30), 2, LimitKind.WORK_DAYS) == at(2026, 10, 9, 17, 30)
    assert c.add(at(2026, 9, 30, 17, 30), 3, LimitKind.WORK_DAYS) == at(2026, 10, 10, 17, 30)


def test_urgent_hours_run_overnight_across_holiday() -> None:
    c = cal()
    assert c.add(at(2026, 9, 30, 22), 2, LimitKind.URGENT_HOURS) == at(2026, 10, 1, 0)
    assert c.add(at(2026, 10, 1, 23), Decimal("1.5"), LimitKind.parse("紧急工作时")) == at(2026, 10, 2, 0, 30)
    assert c.elapsed(at(2026, 10, 1), at(2026, 10, 3), LimitKind.URGENT_HOURS) == timedelta(hours=48)


def test_work_hours_over_lunch_and_weekend() -> None:
    c = cal()
    # Monday 2026-06-15, 11:00 + 2 工作时 -> 12:00, then 14:00 + 1 h.
    assert c.add(at(2026, 6, 15, 11), 2, LimitKind.WORK_HOURS) == at(2026, 6, 15, 15)
    # Friday 2026-06-12 16:30 + 3 工作时 -> 1 h on Friday, Monday 08:30 + 2 h.
    assert c.add(at(2026, 6, 12, 16, 30), 3, LimitKind.WORK_HOURS) == at(2026, 6, 15, 10, 30)
    assert c.add(at(2026, 6, 15, 9), 0.5, LimitKind.WORK_HOURS) == at(2026, 6, 15, 9, 30)


def test_start_outside_working_time() -> None:
    c = cal()
    assert c.add(at(2026, 6, 15, 12, 30), 1, LimitKind.WORK_HOURS) == at(2026, 6, 15, 15)
    assert c.add(at(2026, 6, 13, 10), 1, LimitKind.WORK_HOURS) == at(2026, 6, 15, 9, 30)  # Saturday
    assert c.add(at(2026, 6, 15, 20), 1, LimitKind.WORK_DAYS) == at(2026, 6, 16, 17, 30)
    assert c.add(at(2026, 6, 13, 10), 0, LimitKind.WORK_HOURS) == at(2026, 6, 13, 10)


def test_deadline_exactly_at_period_end() -> None:
    c = cal()
    assert c.add(at(2026, 6, 15, 8, 30), 1, LimitKind.WORK_DAYS) == at(2026, 6, 15, 17, 30)
    assert c.add(at(2026, 6, 15, 16, 30), 1, LimitKind.WORK_HOURS) == at(2026, 6, 15, 17, 30)
    assert c.add(at(2026, 6, 15, 11), 1, LimitKind.WORK_HOURS) == at(2026, 6, 15, 12)


def test_input_validation() -> None:
    c = cal()
    with pytest.raises(ValueError, match="naive"):
        c.add(datetime(2026, 6, 15, 9), 1, LimitKind.WORK_HOURS)
    with pytest.raises(ValueError, match="naive"):
        c.elapsed(at(2026, 6, 15, 9), datetime(2026, 6, 16, 9), LimitKind.WORK_HOURS)
    with pytest.raises(ValueError, match="负数"):
        c.add(at(2026, 6, 15, 9), -1, LimitKind.WORK_HOURS)
    with pytest.raises(ValueError, match="无效"):
        c.add(at(2026, 6, 15, 9), float("nan"), LimitKind.WORK_HOURS)
    assert c.elapsed(at(2026, 6, 16), at(2026, 6, 15), LimitKind.WORK_HOURS) == timedelta(0)
    assert c.elapsed(at(2026, 6, 16), at(2026, 6, 15), LimitKind.URGENT_HOURS) == timedelta(0)


def test_results_are_utc_for_any_input_zone() -> None:
    c = cal()
    start = datetime(2026, 6, 15, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    result = c.add(start, 1, LimitKind.WORK_HOURS)
    assert result.tzinfo is UTC
    assert result == at(2026, 6, 15, 10)


# --------------------------------------------------------------------------- unknown years


def test_unknown_year_falls_back_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []
    c = cal(on_fallback=seen.append)
    assert c.year_source(2027) is DaySource.FALLBACK
    with caplog.at_level(logging.WARNING, logger="zhcg.calendar"):
        assert c.is_workday(date(2027, 1, 1))  # a Friday; really a holiday, but nobody told us
        assert not c.is_workday(date(2027, 1, 2))
        deadline = c.add(at(2027, 1, 1, 9), 20, LimitKind.WORK_DAYS)
        c.elapsed(at(2027, 1, 1), at(2027, 6, 1), LimitKind.WORK_HOURS)
    # 20 Mon-Fri working days from Fri 09:00: Friday + 19 more, ends Fri 2027-01-29 09:00.
    assert deadline == at(2027, 1, 29, 9)
    warnings = [r for r in caplog.records if r.name == "zhcg.calendar" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "2027" in warnings[0].getMessage()
    assert seen == [2027]
    assert c.fallback_years_seen == frozenset({2027})
    assert c.day_source(date(2027, 3, 1)) is DaySource.FALLBACK


def test_fallback_hook_failure_never_breaks_a_deadline(caplog: pytest.LogCaptureFixture) -> None:
    def boom(year: int) -> None:
        raise RuntimeError(year)

    c = cal(on_fallback=boom)
    with caplog.at_level(logging.WARNING, logger="zhcg.calendar"):
        assert c.add(at(2030, 1, 7, 9), 1, LimitKind.WORK_HOURS) == at(2030, 1, 7, 10)


def test_far_years_fall_back() -> None:
    c = cal()
    assert c.is_workday(date(1999, 1, 4))
    assert not c.is_workday(date(2099, 1, 3))
    assert c.fallback_years_seen == frozenset({1999, 2099})


def test_admin_override_year_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []
    overrides = {date(2027, 1, 1): False, date(2027, 2, 7): True}  # Fri holiday, Sun worked
    c = cal(overrides=overrides, override_years=[2027], on_fallback=seen.append)
    with caplog.at_level(logging.WARNING, logger="zhcg.calendar"):
        assert not c.is_workday(date(2027, 1, 1))
        assert c.is_workday(date(2027, 2, 7))
        assert c.is_workday(date(2027, 1, 4))
        assert not c.is_workday(date(2027, 1, 9))
        # Thu 2026-12-31 17:00 + 1 工作时: 0.5 h on Thursday, then skip the Jan 1 holiday and weekend.
        assert c.add(at(2026, 12, 31, 17), 1, LimitKind.WORK_HOURS) == at(2027, 1, 4, 9)
        # Sat 2027-02-06 10:00 + 1 工作时 lands on the adjusted Sunday.
        assert c.add(at(2027, 2, 6, 10), 1, LimitKind.WORK_HOURS) == at(2027, 2, 7, 9, 30)
    assert not [r for r in caplog.records if r.name == "zhcg.calendar"]
    assert seen == []
    assert c.fallback_years_seen == frozenset()
    assert c.year_source(2027) is DaySource.OVERRIDE
    assert c.day_source(date(2027, 5, 5)) is DaySource.OVERRIDE


def test_single_day_override_beats_package() -> None:
    c = cal(overrides={date(2026, 6, 15): False, date(2026, 6, 13): True})
    assert not c.is_workday(date(2026, 6, 15))
    assert c.is_workday(date(2026, 6, 13))
    assert c.day_source(date(2026, 6, 15)) is DaySource.OVERRIDE
    assert c.day_source(date(2026, 6, 16)) is DaySource.PACKAGE


# --------------------------------------------------------------------------- pauses (挂账)


def test_pause_moves_deadline_by_paused_working_time() -> None:
    c = cal()
    start = at(2026, 6, 15, 9)  # Monday
    plain = c.add(start, 2, LimitKind.WORK_DAYS)
    assert plain == at(2026, 6, 17, 9)
    # Paused Mon 10:00 -> Mon 16:00: 2 h + 2 h = 4 working hours do not count.
    paused = c.deadline(start, 2, LimitKind.WORK_DAYS, pauses=[(at(2026, 6, 15, 10), at(2026, 6, 15, 16))])
    assert paused == at(2026, 6, 17, 15)  # 09:00-12:00, then 14:00-15:00
    assert c.elapsed(plain, paused, LimitKind.WORK_HOURS) == timedelta(hours=4)
    # A pause over a weekend costs nothing extra.
    weekend = [(at(2026, 6, 13, 9), at(2026, 6, 14, 18))]
    friday = at(2026, 6, 12, 9)
    assert c.add(friday, 1, LimitKind.WORK_DAYS) == at(2026, 6, 15, 9)
    assert c.deadline(friday, 1, LimitKind.WORK_DAYS, pauses=weekend) == at(2026, 6, 15, 9)


def test_pause_with_urgent_hours_counts_wall_time() -> None:
    c = cal()
    pauses = [(at(2026, 10, 1, 1), at(2026, 10, 1, 4))]
    assert c.deadline(at(2026, 10, 1), 2, LimitKind.URGENT_HOURS, pauses=pauses) == at(2026, 10, 1, 5)


def test_open_pause_stops_the_clock() -> None:
    c = cal()
    start = at(2026, 6, 15, 9)
    assert c.deadline(start, 2, LimitKind.WORK_DAYS, pauses=[(at(2026, 6, 15, 10), None)]) is None
    # A suspension that begins after the limit ran out does not hide the deadline.
    late = [(at(2026, 6, 20, 10), None)]
    assert c.deadline(start, 2, LimitKind.WORK_DAYS, pauses=late) == at(2026, 6, 17, 9)


def test_deadline_pause_validation() -> None:
    c = cal()
    start = at(2026, 6, 15, 9)
    with pytest.raises(ValueError, match="早于"):
        c.deadline(start, 1, LimitKind.WORK_HOURS, pauses=[(at(2026, 6, 15, 11), at(2026, 6, 15, 10))])
    with pytest.raises(ValueError, match="最后一次"):
        c.deadline(
            start,
            1,
            LimitKind.WORK_HOURS,
            pauses=[(at(2026, 6, 15, 10), None), (at(2026, 6, 15, 11), at(2026, 6, 15, 12))],
        )
    with pytest.raises(ValueError, match="naive"):
        c.deadline(start, 1, LimitKind.WORK_HOURS, pauses=[(datetime(2026, 6, 15, 10), None)])
    # Pauses before the start and unsorted pauses are tolerated.
    pauses = [(at(2026, 6, 15, 15), at(2026, 6, 15, 16)), (at(2026, 6, 14), at(2026, 6, 15, 10))]
    # Work 10:00-12:00 and 14:00-15:00, paused 15:00-16:00, then 16:00-17:00.
    assert c.deadline(start, 4, LimitKind.WORK_HOURS, pauses=pauses) == at(2026, 6, 15, 17)


def test_sla_clock_lifecycle() -> None:
    c = cal()
    clock = SlaClock(start=at(2026, 6, 15, 9), amount=Decimal("1"), kind=LimitKind.WORK_DAYS, pauses=[])
    assert not clock.paused
    assert clock.deadline(c) == at(2026, 6, 16, 9)
    clock.pause(at(2026, 6, 15, 10))
    assert clock.paused
    assert clock.deadline(c) is None
    assert clock.consumed(c, at(2026, 6, 15, 16)) == timedelta(hours=1)
    with pytest.raises(ValueError, match="挂账"):
        clock.pause(at(2026, 6, 15, 11))
    clock.resume(at(2026, 6, 15, 15))
    assert not clock.paused
    with pytest.raises(ValueError, match="未暂停"):
        clock.resume(at(2026, 6, 15, 16))
    # Paused 10:00-15:00 = 2 h + 1 h of working time.
    assert clock.deadline(c) == at(2026, 6, 16, 12)
    assert clock.consumed(c, at(2026, 6, 15, 16)) == timedelta(hours=2)
    assert clock.remaining(c, at(2026, 6, 15, 16)) == timedelta(hours=5)
    assert clock.remaining(c, at(2026, 6, 16, 15)) == timedelta(hours=-1)
    assert clock.remaining(c, at(2026, 6, 15, 8)) == timedelta(hours=7)


def test_sla_clock_rejects_bad_events() -> None:
    clock = SlaClock(start=at(2026, 6, 15, 9), amount=2, kind=LimitKind.URGENT_HOURS, pauses=[])
    with pytest.raises(ValueError, match="早于"):
        clock.pause(at(2026, 6, 15, 8))
    clock.pause(at(2026, 6, 15, 10))
    with pytest.raises(ValueError, match="早于"):
        clock.resume(at(2026, 6, 15, 9, 30))
    with pytest.raises(ValueError, match="naive"):
        clock.resume(datetime(2026, 6, 15, 11))
    with pytest.raises(ValueError, match="负数"):
        SlaClock(start=at(2026, 6, 15, 9), amount=-1, kind=LimitKind.URGENT_HOURS, pauses=[])


def test_sla_clock_urgent_hours() -> None:
    c = cal()
    clock = SlaClock(start=at(2026, 10, 1, 22), amount=2, kind=LimitKind.URGENT_HOURS, pauses=[])
    clock.pause(at(2026, 10, 1, 23))
    clock.resume(at(2026, 10, 2, 1))
    assert clock.deadline(c) == at(2026, 10, 2, 2)
    assert clock.consumed(c, at(2026, 10, 2, 1, 30)) == timedelta(hours=1, minutes=30)
    assert clock.remaining(c, at(2026, 10, 2, 3)) == timedelta(hours=-1)


# --------------------------------------------------------------------------- properties and scale


@pytest.mark.parametrize("kind", [LimitKind.WORK_HOURS, LimitKind.WORK_DAYS, LimitKind.URGENT_HOURS])
def test_elapsed_inverts_add(kind: LimitKind) -> None:
    rng = random.Random(20260101)
    c = cal()
    base = at(2025, 12, 1)
    for _ in range(400):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 450))
        amount = Decimal(rng.randrange(0, 4000)) / 100 if kind is LimitKind.WORK_DAYS else rng.uniform(0, 90)
        end = c.add(start, amount, kind)
        assert end >= start
        assert c.elapsed(start, end, kind) == c.duration(amount, kind)
        assert c.add(start, 0, kind) == start


def test_add_is_monotonic_in_amount() -> None:
    rng = random.Random(7)
    c = cal()
    for _ in range(200):
        start = at(2026, 1, 1) + timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
        small, big = sorted((rng.uniform(0, 30), rng.uniform(0, 30)))
        assert c.add(start, small, LimitKind.WORK_HOURS) <= c.add(start, big, LimitKind.WORK_HOURS)


def test_large_amounts() -> None:
    c = cal()
    start = at(2026, 1, 5, 8, 30)
    sixty = c.add(start, 60, LimitKind.WORK_DAYS)
    assert c.elapsed_amount(start, sixty, LimitKind.WORK_DAYS) == 60.0
    hours = c.add(start, 2000, LimitKind.WORK_HOURS)
    assert c.elapsed_amount(start, hours, LimitKind.WORK_HOURS) == 2000.0
    assert hours.year == 2027  # runs into the fallback year without failing
    assert c.add(start, 80_000, LimitKind.URGENT_HOURS) == start + timedelta(hours=80_000)


def test_an_entered_day_in_a_package_year_keeps_the_official_holidays() -> None:
    # One local holiday entered for 2026 must not turn National Day back into working days.
    c = cal(overrides={date(2026, 6, 15): False}, override_years=[2026])
    assert c.year_source(2026) is DaySource.PACKAGE
    assert c.is_workday(date(2026, 6, 15)) is False
    assert c.is_workday(date(2026, 10, 1)) is False


@pytest.mark.parametrize(
    ("amount", "kind"),
    [(1e9, LimitKind.URGENT_HOURS), (1e7, LimitKind.WORK_DAYS), (100_000, LimitKind.WORK_HOURS)],
)
def test_absurd_limits_are_refused_clearly(amount: float, kind: LimitKind) -> None:
    with pytest.raises(ValueError, match="超过上限"):
        cal().add(datetime(2026, 1, 5, 2, 0, tzinfo=UTC), amount, kind)
