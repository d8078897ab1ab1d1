"""Anti-abuse of reports: the device identifier's keyed hash and the suspicious-pattern flags staff see.

Each flag is checked present at its threshold and absent just below it (or just outside its window).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from core.cases import intake
from core.cases.abuse import most_in_window, reporter_flags
from core.errors import Invalid
from core.kit.clock import utcnow
from core.models import Case, CaseStatus, Channel, Citizen, StaffRole
from tests.fixtures.cases import City

_numbers = itertools.count(1)
# Roughly 33 km north of the test city (0.3° of latitude).
FAR_NORTH = 0.3
# Roughly 5.5 km north.
NEAR_NORTH = 0.05


def add_report(
    city: City,
    citizen: Citizen | None,
    *,
    at: datetime,
    status: CaseStatus = CaseStatus.PENDING,
    device: str | None = None,
    north: float = 0.0,
    channel: Channel = Channel.MINIPROGRAM,
) -> Case:
    """A report as intake would have stored it, at a chosen time (test data only)."""
    lng, lat = city.point()
    case = Case(
        case_no=f"A{next(_numbers):08d}",
        channel=channel,
        status=status,
        reporter_citizen_id=citizen.id if citizen else None,
        reporter_staff_id=city.staff[StaffRole.SUPERVISOR].id if channel is Channel.SUPERVISOR else None,
        reporter_device=device,
        category_id=city.manhole.id,
        description="井盖缺失，很危险",
        lng=lng,
        lat=lat + north,
        unit_grid_code=f"{city.community.code}001",
        community_code=city.community.code,
        street_code=city.community.code[:9],
        district_code=city.community.code[:6],
        created_at=at,
    )
    city.session.add(case)
    city.session.flush()
    return case


def codes(city: City, case: Case) -> list[str]:
    return [flag.code for flag in reporter_flags(city.session, city.settings, case)]


# --- the device identifier -------------------------------------------------------------------------


def test_device_hash_is_keyed_short_and_never_the_raw_value(city: City) -> None:
    raw = "wx-device-0123456789"
    hashed = intake.device_hash(city.settings, raw)
    assert len(hashed) == intake.DEVICE_HASH_LENGTH
    assert int(hashed, 16) >= 0
    assert raw not in hashed
    assert intake.device_hash(city.settings, raw) == hashed
    assert intake.device_hash(city.settings, raw + "x") != hashed
    other_secret = city.settings.model_copy(
        update={"app": city.settings.app.model_copy(update={"secret_key": SecretStr("y" * 32)})}
    )
    assert intake.device_hash(other_secret, raw) != hashed


@pytest.mark.parametrize("raw", ["a" * 8, "A" * 128, "ios 17.2/iPhone15,3 ~!@#$%^&*()"])
def test_device_ids_of_8_to_128_printable_ascii_characters_are_accepted(city: City, raw: str) -> None:
    assert len(intake.device_hash(city.settings, raw)) == intake.DEVICE_HASH_LENGTH


@pytest.mark.parametrize(
    "raw", ["", "a" * 7, "a" * 129, "设备标识设备标识", "abcd\tefgh", "abcdefgh\n", "é" * 10]
)
def test_malformed_device_ids_are_refused(city: City, raw: str) -> None:
    with pytest.raises(Invalid) as info:
        intake.device_hash(city.settings, raw)
    assert info.value.code == "invalid_device_id"
    assert info.value.details == {}  # the raw value is not echoed back


# --- which cases get flags -------------------------------------------------------------------------


def test_a_report_without_history_has_no_flags(city: City) -> None:
    case = add_report(city, city.citizen(), at=utcnow(), device="d" * 32)
    assert codes(city, case) == []


def test_supervisor_and_hotline_cases_have_no_flags(city: City) -> None:
    now = utcnow()
    for minutes in range(6):  # a burst that would flag a citizen's report
        add_report(city, None, at=now - timedelta(minutes=minutes), channel=Channel.SUPERVISOR)
    supervisor_case = add_report(city, None, at=now, channel=Channel.SUPERVISOR)
    hotline_case = add_report(city, None, at=now, channel=Channel.HOTLINE)
    assert codes(city, supervisor_case) == []
    assert codes(city, hotline_case) == []


def test_flags_come_in_a_stable_order_with_chinese_labels(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    device = "e" * 32
    for other in (city.citizen(), city.citizen()):
        add_report(city, other, at=now - timedelta(days=1), device=device)
    for minutes in (9, 8, 7, 6):
        add_report(
            city, citizen, at=now - timedelta(minutes=minutes), status=CaseStatus.VOIDED, device=device
        )
    case = add_report(city, citizen, at=now, device=device, north=FAR_NORTH)
    flags = reporter_flags(city.session, city.settings, case)
    assert [flag.code for flag in flags] == ["many_voided", "burst", "shared_device", "impossible_travel"]
    assert [flag.label for flag in flags] == [
        "多次不予立案",
        "短时集中上报",
        "多账号共用设备",
        "位置异常跳变",
    ]
    assert flags[0].detail == "近 30 天上报 5 件，其中 4 件不予立案"
    assert flags[1].detail == "10 分钟内上报 5 件"
    assert flags[2].detail == "该设备近 7 天有 3 个账号上报"
    assert flags[3].detail.startswith("上一次上报在 6 分钟前，相距约 33")


# --- many_voided -----------------------------------------------------------------------------------


def _history(city: City, citizen: Citizen, statuses: list[CaseStatus], *, days_ago: int = 1) -> None:
    """Reports a day apart (no burst, no travel), the newest ``days_ago`` days before now."""
    now = utcnow()
    for index, status in enumerate(statuses):
        add_report(city, citizen, at=now - timedelta(days=days_ago + index), status=status)


def test_many_voided_at_the_thresholds(city: City) -> None:
    citizen = city.citizen()
    # The case itself counts: 5 reports, 3 voided (60 %).
    _history(city, citizen, [CaseStatus.VOIDED] * 3 + [CaseStatus.CLOSED])
    case = add_report(city, citizen, at=utcnow())
    assert "many_voided" in codes(city, case)


def test_many_voided_needs_enough_reports(city: City) -> None:
    citizen = city.citizen()
    _history(city, citizen, [CaseStatus.VOIDED] * 3)
    case = add_report(city, citizen, at=utcnow(), status=CaseStatus.VOIDED)  # 4 of 4 voided
    assert "many_voided" not in codes(city, case)


def test_many_voided_at_exactly_half(city: City) -> None:
    citizen = city.citizen()
    _history(city, citizen, [CaseStatus.VOIDED] * 5 + [CaseStatus.CLOSED] * 4)
    case = add_report(city, citizen, at=utcnow())  # 5 of 10
    assert "many_voided" in codes(city, case)


def test_many_voided_needs_half_of_them_voided(city: City) -> None:
    citizen = city.citizen()
    _history(city, citizen, [CaseStatus.VOIDED] * 4 + [CaseStatus.CLOSED] * 5)
    case = add_report(city, citizen, at=utcnow())  # 4 of 10
    assert "many_voided" not in codes(city, case)


def test_many_voided_forgets_reports_older_than_the_window(city: City) -> None:
    citizen = city.citizen()
    _history(city, citizen, [CaseStatus.VOIDED] * 5, days_ago=31)
    case = add_report(city, citizen, at=utcnow())
    assert "many_voided" not in codes(city, case)


def test_many_voided_counts_only_this_reporter(city: City) -> None:
    _history(city, city.citizen(), [CaseStatus.VOIDED] * 5)
    case = add_report(city, city.citizen(), at=utcnow())
    assert codes(city, case) == []


# --- burst -----------------------------------------------------------------------------------------


def test_burst_at_the_threshold(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    case = add_report(city, citizen, at=now - timedelta(minutes=5))
    for minutes in (10, 8, 2, 0):  # with the case: 5 reports from -10 to 0 minutes
        add_report(city, citizen, at=now - timedelta(minutes=minutes))
    assert "burst" in codes(city, case)


def test_burst_needs_enough_reports(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    case = add_report(city, citizen, at=now - timedelta(minutes=5))
    for minutes in (10, 8, 2):
        add_report(city, citizen, at=now - timedelta(minutes=minutes))
    assert "burst" not in codes(city, case)


def test_burst_needs_them_within_one_window(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    case = add_report(city, citizen, at=now - timedelta(minutes=5))
    # Five reports, but the first and last are 10 minutes and 1 second apart.
    for delta in (timedelta(minutes=10, seconds=1), timedelta(minutes=8), timedelta(minutes=2), timedelta(0)):
        add_report(city, citizen, at=now - delta)
    assert "burst" not in codes(city, case)


def test_a_report_long_after_a_burst_is_not_flagged(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    for minutes in (40, 39, 38, 37, 36):
        add_report(city, citizen, at=now - timedelta(minutes=minutes))
    later = add_report(city, citizen, at=now - timedelta(minutes=20))
    assert "burst" not in codes(city, later)


def test_most_in_window() -> None:
    base = utcnow()
    minute = timedelta(minutes=1)
    times = [base + minute * offset for offset in (0, 1, 2, 11, 12, 13, 14)]
    assert most_in_window(times, times[3], 10 * minute) == 4  # [11, 21]: 11, 12, 13, 14
    assert most_in_window(times, times[0], 10 * minute) == 3  # [0, 10]: 0, 1, 2
    assert most_in_window(times, times[2], 10 * minute) == 3  # [2, 12]: 2, 11, 12 (or [0, 10])
    assert most_in_window(times, times[6], 2 * minute) == 3  # [12, 14]: 12, 13, 14
    assert most_in_window([base], base, minute) == 1


# --- shared_device ---------------------------------------------------------------------------------


def test_shared_device_at_the_threshold(city: City) -> None:
    device = "a" * 32
    now = utcnow()
    for citizen in (city.citizen(), city.citizen()):
        add_report(city, citizen, at=now - timedelta(days=6), device=device)
    case = add_report(city, city.citizen(), at=now, device=device)
    assert "shared_device" in codes(city, case)


def test_shared_device_counts_distinct_citizens(city: City) -> None:
    device = "b" * 32
    now = utcnow()
    other = city.citizen()
    for days in (1, 2, 3):  # one other citizen, several reports
        add_report(city, other, at=now - timedelta(days=days), device=device)
    case = add_report(city, city.citizen(), at=now, device=device)
    assert "shared_device" not in codes(city, case)


def test_shared_device_forgets_older_reports(city: City) -> None:
    device = "c" * 32
    now = utcnow()
    add_report(city, city.citizen(), at=now - timedelta(days=8), device=device)
    add_report(city, city.citizen(), at=now - timedelta(days=1), device=device)
    case = add_report(city, city.citizen(), at=now, device=device)
    assert "shared_device" not in codes(city, case)


def test_no_device_no_shared_device_flag(city: City) -> None:
    now = utcnow()
    for citizen in (city.citizen(), city.citizen()):
        add_report(city, citizen, at=now - timedelta(days=1), device=None)
    case = add_report(city, city.citizen(), at=now, device=None)
    assert "shared_device" not in codes(city, case)


# --- impossible_travel -----------------------------------------------------------------------------


def test_impossible_travel_far_and_quick(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    add_report(city, citizen, at=now - timedelta(minutes=14, seconds=59))
    case = add_report(city, citizen, at=now, north=FAR_NORTH)
    assert "impossible_travel" in codes(city, case)


def test_impossible_travel_not_when_near(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    add_report(city, citizen, at=now - timedelta(minutes=5))
    case = add_report(city, citizen, at=now, north=NEAR_NORTH)
    assert "impossible_travel" not in codes(city, case)


def test_impossible_travel_not_after_the_window(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    add_report(city, citizen, at=now - timedelta(minutes=15))
    case = add_report(city, citizen, at=now, north=FAR_NORTH)
    assert "impossible_travel" not in codes(city, case)


def test_impossible_travel_compares_with_the_previous_report_only(city: City) -> None:
    citizen = city.citizen()
    now = utcnow()
    add_report(city, citizen, at=now - timedelta(minutes=10))  # far from the case
    add_report(city, citizen, at=now - timedelta(minutes=5), north=FAR_NORTH)  # the previous one, nearby
    case = add_report(city, citizen, at=now, north=FAR_NORTH)
    assert "impossible_travel" not in codes(city, case)
    # The later, far report does not flag the earlier one.
    first = add_report(city, citizen, at=now - timedelta(hours=3))
    add_report(city, citizen, at=now - timedelta(hours=3) + timedelta(minutes=1), north=FAR_NORTH)
    assert "impossible_travel" not in codes(city, first)


def test_impossible_travel_of_another_citizen_does_not_count(city: City) -> None:
    now = utcnow()
    add_report(city, city.citizen(), at=now - timedelta(minutes=5))
    case = add_report(city, city.citizen(), at=now, north=FAR_NORTH)
    assert codes(city, case) == []
