"""Suspicious patterns in a citizen's reports, shown to staff on a case (reports earn reward points).

The flags are computed when a case is read, from the reporter's recent reports; nothing is stored, so a
changed threshold applies at once and a flag disappears when the pattern does. Each flag is a hint for
the operator deciding on the report, never a decision: the rate limits refuse, flags only inform.

Windows: ``many_voided`` and ``shared_device`` look at the days before now (the reporter's and the
device's current behaviour); ``burst`` and ``impossible_travel`` look around this case's report time.
Every query is bounded by the reporter (or the device hash) and a time range.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from core.cases import repository
from core.cases.intake import CITIZEN_CHANNELS
from core.cases.schemas import ReporterFlag
from core.geo.coords import haversine_m
from core.kit.clock import utcnow
from core.models import Case
from core.settings import RewardSettings, Settings

# A citizen cannot file more than the per-citizen limits allow; this only bounds a burst's rows.
MAX_BURST_ROWS = 500


def reporter_flags(session: Session, settings: Settings, case: Case) -> list[ReporterFlag]:
    """The flags of a citizen's report, in a stable order; none for staff, hotline or unowned cases."""
    citizen_id = case.reporter_citizen_id
    if citizen_id is None or case.channel not in CITIZEN_CHANNELS or case.id is None:
        return []
    rules = settings.rewards
    now = utcnow()
    flags = [
        _many_voided(session, rules, citizen_id, now),
        _burst(session, rules, citizen_id, case.created_at),
        _shared_device(session, rules, case.reporter_device, now),
        _impossible_travel(session, rules, case),
    ]
    return [flag for flag in flags if flag is not None]


def _many_voided(
    session: Session, rules: RewardSettings, citizen_id: int, now: datetime
) -> ReporterFlag | None:
    days = rules.flag_voided_window_days
    total, voided = repository.voided_reports_of_citizen_since(
        session, citizen_id, now - timedelta(days=days)
    )
    if total < rules.flag_voided_min_reports or voided < rules.flag_voided_ratio * total:
        return None
    return ReporterFlag(
        code="many_voided",
        label="多次不予立案",
        detail=f"近 {days} 天上报 {total} 件，其中 {voided} 件不予立案",
    )


def most_in_window(times: list[datetime], moment: datetime, window: timedelta) -> int:
    """The most reports in one window of length ``window`` (ends included) that contains ``moment``.

    ``times`` are sorted. A best window can always start at its earliest report, which is at or before
    ``moment`` when ``moment`` is one of the times (the case itself).
    """
    best = 0
    end = 0
    for start, first in enumerate(times):
        if first > moment:
            break
        end = max(end, start)
        while end < len(times) and times[end] - first <= window:
            end += 1
        if first + window >= moment:
            best = max(best, end - start)
    return best


def _burst(
    session: Session, rules: RewardSettings, citizen_id: int, reported_at: datetime
) -> ReporterFlag | None:
    minutes = rules.flag_burst_window_minutes
    window = timedelta(minutes=minutes)
    times = repository.report_times_of_citizen_between(
        session, citizen_id, reported_at - window, reported_at + window, limit=MAX_BURST_ROWS
    )
    count = most_in_window(times, reported_at, window)
    if count < rules.flag_burst_reports:
        return None
    return ReporterFlag(code="burst", label="短时集中上报", detail=f"{minutes} 分钟内上报 {count} 件")


def _shared_device(
    session: Session, rules: RewardSettings, device: str | None, now: datetime
) -> ReporterFlag | None:
    if device is None:
        return None
    days = rules.flag_shared_device_window_days
    citizens = repository.citizens_of_device_since(session, device, now - timedelta(days=days))
    if citizens < rules.flag_shared_device_citizens:
        return None
    return ReporterFlag(
        code="shared_device",
        label="多账号共用设备",
        detail=f"该设备近 {days} 天有 {citizens} 个账号上报",
    )


def _impossible_travel(session: Session, rules: RewardSettings, case: Case) -> ReporterFlag | None:
    window = timedelta(minutes=rules.flag_travel_minutes)
    # Only a previous report within the window can be "too quick"; the window bounds the query.
    previous = repository.previous_report_of_citizen(session, case, since=case.created_at - window)
    if previous is None:
        return None
    elapsed = case.created_at - previous.created_at
    distance_km = haversine_m(previous.lng, previous.lat, case.lng, case.lat) / 1000
    if elapsed >= window or distance_km <= rules.flag_travel_km:
        return None
    minutes = int(elapsed.total_seconds() // 60)
    ago = f"{minutes} 分钟前" if minutes else "不到 1 分钟前"
    return ReporterFlag(
        code="impossible_travel",
        label="位置异常跳变",
        detail=f"上一次上报在 {ago}，相距约 {distance_km:.1f} 公里",
    )
