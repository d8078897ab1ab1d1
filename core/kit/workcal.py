"""Working-time calendar: time limits (时限) in clock hours, working hours and working days.

Pure Python: no database, no settings. The caller supplies the working hours and the admin-entered
overrides (see ``core.calendar.service``). Instants go in timezone-aware and come out in UTC; day
boundaries and working periods are local wall-clock time in ``WorkingHours.tz``.

Which days are working days, in order of precedence:

1. a date in ``overrides`` (admin-entered holiday or adjusted working day);
2. a year in ``override_years`` (admin entered that year's whole schedule): other dates are Mon-Fri;
3. the ``chinese_calendar`` package (official holidays and adjusted working weekends, 调休);
4. Mon-Fri, with one warning per year, because a deadline must never fail for lack of calendar data.

All arithmetic is done on integral microseconds (``timedelta``), so ``elapsed`` exactly inverts ``add``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.kit.clock import SHANGHAI, ensure_aware

try:
    import chinese_calendar as _cc
except ImportError:  # pragma: no cover - a missing package only means "no official schedule"
    _cc = None

__all__ = [
    "DaySource",
    "LimitKind",
    "SlaClock",
    "WorkCalendar",
    "WorkingHours",
]

log = logging.getLogger("zhcg.calendar")

Amount = int | float | Decimal
Pause = tuple[datetime, datetime | None]

_ONE_DAY = timedelta(days=1)
_ONE_HOUR = timedelta(hours=1)
_MICROS_PER_HOUR = 3_600_000_000


# --------------------------------------------------------------------------- limit kinds


class LimitKind(StrEnum):
    URGENT_HOURS = "urgent_hours"  # 紧急工作时: continuous clock hours, nights and holidays count
    WORK_HOURS = "work_hours"  # 工作时: only working hours on working days
    WORK_DAYS = "work_days"  # 工作日: amount × (length of one working day) of working time

    @classmethod
    def parse(cls, value: str) -> LimitKind:
        """Accept the code (``work_days``) or the Chinese label (``工作日``)."""
        text = str(value).strip()
        for kind in cls:
            if text.lower() == kind.value or text == kind.label:
                return kind
        raise ValueError(f"无法识别的时限类型：{value!r}（可选：紧急工作时、工作时、工作日）")

    @property
    def label(self) -> str:
        return _KIND_LABELS[self.value]

    @property
    def counts_working_time(self) -> bool:
        """True for 工作时/工作日 (working time only), False for 紧急工作时 (wall-clock time)."""
        return self is not LimitKind.URGENT_HOURS


_KIND_LABELS = {"urgent_hours": "紧急工作时", "work_hours": "工作时", "work_days": "工作日"}


# --------------------------------------------------------------------------- working hours

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_PERIOD_SPLIT_RE = re.compile(r"[,，;；]")
_RANGE_SPLIT_RE = re.compile(r"\s*[-–~～]\s*")


def _parse_clock(text: str) -> time:
    match = _TIME_RE.match(text.strip())
    if not match:
        raise ValueError(f"时间格式错误：{text!r}（应为 HH:MM）")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"时间超出范围：{text!r}")
    return time(hour, minute)


def _parse_period(text: str) -> tuple[time, time]:
    parts = _RANGE_SPLIT_RE.split(text.strip())
    if len(parts) != 2:
        raise ValueError(f"工作时段格式错误：{text!r}（应为 HH:MM-HH:MM）")
    return _parse_clock(parts[0]), _parse_clock(parts[1])


def _load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"未知的时区：{name!r}") from exc


def _check_periods(periods: tuple[tuple[time, time], ...]) -> None:
    if not periods:
        raise ValueError("工作时段不能为空")
    for start, end in periods:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("工作时段应为不带时区的本地时间")
        if start >= end:
            raise ValueError(f"工作时段开始时间须早于结束时间：{start:%H:%M}-{end:%H:%M}")
    for (_, prev_end), (next_start, next_end) in pairwise(periods):
        if next_start < prev_end:
            raise ValueError(f"工作时段重叠或未按时间排序：{next_start:%H:%M}-{next_end:%H:%M}")


@dataclass(frozen=True)
class WorkingHours:
    """The daily working periods, e.g. 08:30-12:00 and 14:00-17:30, in local wall-clock time.

    Adjacent periods (``08:00-12:00,12:00-13:00``) are allowed; overlapping ones are not.
    """

    periods: tuple[tuple[time, time], ...]
    tz: ZoneInfo = SHANGHAI

    def __post_init__(self) -> None:
        _check_periods(self.periods)

    @classmethod
    def parse(cls, spec: str, tz: str = "Asia/Shanghai") -> WorkingHours:
        """Parse ``"08:30-12:00,14:00-17:30"``; periods may be given in any order."""
        chunks = [chunk for chunk in _PERIOD_SPLIT_RE.split(spec or "") if chunk.strip()]
        if not chunks:
            raise ValueError("工作时段不能为空（示例：08:30-12:00,14:00-17:30）")
        periods = tuple(sorted(_parse_period(chunk) for chunk in chunks))
        return cls(periods=periods, tz=_load_zone(tz))

    @property
    def day_length(self) -> timedelta:
        """Nominal working time of one working day (the unit of 工作日)."""
        anchor = date(2000, 1, 3)
        return sum(
            (datetime.combine(anchor, end) - datetime.combine(anchor, start) for start, end in self.periods),
            timedelta(0),
        )

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of ``day`` (whether or not it is a working day) as UTC instants."""
        result = []
        for start, end in self.periods:
            lo = datetime.combine(day, start, tzinfo=self.tz).astimezone(UTC)
            hi = datetime.combine(day, end, tzinfo=self.tz).astimezone(UTC)
            if lo < hi:  # a DST gap could swallow a period in exotic zones
                result.append((lo, hi))
        return result

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def __str__(self) -> str:
        return ",".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in self.periods)


# --------------------------------------------------------------------------- amounts


def _to_decimal(amount: Amount) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal):
        raise ValueError(f"时限数值无效：{amount!r}")
    try:
        value = Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)
    except InvalidOperation as exc:  # pragma: no cover - defensive
        raise ValueError(f"时限数值无效：{amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"时限数值无效：{amount!r}")
    if value < 0:
        raise ValueError(f"时限不能为负数：{amount}")
    return value


def _micros(value: Decimal) -> timedelta:
    return timedelta(microseconds=int(value.to_integral_value(rounding=ROUND_HALF_EVEN)))


# --------------------------------------------------------------------------- calendar


class DaySource(StrEnum):
    OVERRIDE = "override"
    PACKAGE = "package"
    FALLBACK = "fallback"


# About ten years of each kind: larger limits are data errors, not deadlines (and would walk the
# calendar through centuries of unknown years).
MAX_AMOUNT: dict[LimitKind, Decimal] = {
    LimitKind.URGENT_HOURS: Decimal(24 * 366 * 10),
    LimitKind.WORK_HOURS: Decimal(8 * 250 * 10),
    LimitKind.WORK_DAYS: Decimal(250 * 10),
}


class WorkCalendar:
    """Answers "is this a working day" and does time-limit arithmetic. Safe to share between threads."""

    def __init__(
        self,
        hours: WorkingHours,
        *,
        overrides: Mapping[date, bool] | None = None,
        override_years: Iterable[int] = (),
        on_fallback: Callable[[int], None] | None = None,
    ) -> None:
        self.hours = hours
        self._overrides: dict[date, bool] = dict(overrides or {})
        self._override_years = frozenset(override_years)
        self._on_fallback = on_fallback
        self._day_cache: dict[date, bool] = {}
        self._package_years: dict[int, bool] = {}
        self._fallback_years: set[int] = set()
        self._lock = threading.Lock()

    # ---- day kinds

    def is_workday(self, day: date) -> bool:
        cached = self._day_cache.get(day)
        if cached is None:
            cached = self._decide(day)
            self._day_cache[day] = cached
        return cached

    def day_source(self, day: date) -> DaySource:
        if day in self._overrides:
            return DaySource.OVERRIDE
        return self.year_source(day.year)

    def year_source(self, year: int) -> DaySource:
        """Where the schedule of ``year`` comes from. A pure query: it never warns.

        The package wins over an entered year it knows: entering one local holiday for such a year
        must not silently drop the official ones (dates entered still win, see ``day_source``).
        """
        if self._package_knows(year):
            return DaySource.PACKAGE
        return DaySource.OVERRIDE if year in self._override_years else DaySource.FALLBACK

    @property
    def fallback_years_seen(self) -> frozenset[int]:
        """Years for which a day was actually decided by the Mon-Fri fallback."""
        with self._lock:
            return frozenset(self._fallback_years)

    def _decide(self, day: date) -> bool:
        if day in self._overrides:
            return self._overrides[day]
        if self._package_knows(day.year):
            return bool(_cc.is_workday(day))
        if day.year in self._override_years:
            return day.weekday() < 5
        self._note_fallback(day.year)
        return day.weekday() < 5

    def _package_knows(self, year: int) -> bool:
        known = self._package_years.get(year)
        if known is None:
            known = _package_has_year(year)
            self._package_years[year] = known
        return known

    def _note_fallback(self, year: int) -> None:
        with self._lock:
            if year in self._fallback_years:
                return
            self._fallback_years.add(year)
        log.warning(
            "%d 年的法定节假日安排未知（未录入，节假日数据包也无此年），暂按周一至周五计算工作日", year
        )
        if self._on_fallback is not None:
            try:
                self._on_fallback(year)
            except Exception:  # a reporting hook must not break a deadline computation
                log.exception("calendar fallback hook failed for year %d", year)

    # ---- amounts

    def duration(self, amount: Amount, kind: LimitKind) -> timedelta:
        """The limit as a timedelta: wall time for 紧急工作时, working time for the other kinds."""
        value = _to_decimal(amount)
        limit = MAX_AMOUNT[LimitKind(kind)]
        if value > limit:
            raise ValueError(f"时限 {value} 超过上限 {limit}（{LimitKind(kind).label}）")
        if kind is LimitKind.WORK_DAYS:
            return _micros(value * _whole_micros(self.hours.day_length))
        return _micros(value * _MICROS_PER_HOUR)

    def add(self, start: datetime, amount: Amount, kind: LimitKind) -> datetime:
        """The instant at which ``amount`` of ``kind`` has passed since ``start`` (UTC)."""
        kind = LimitKind(kind)
        return self._advance(ensure_aware(start), self.duration(amount, kind), kind)

    def elapsed(self, start: datetime, end: datetime, kind: LimitKind) -> timedelta:
        """Working time between two instants (wall time for 紧急工作时); zero if ``end <= start``."""
        return self._measure(ensure_aware(start), ensure_aware(end), LimitKind(kind))

    def elapsed_amount(self, start: datetime, end: datetime, kind: LimitKind) -> float:
        """``elapsed`` in the unit of ``kind``: hours, or working days of ``hours.day_length``."""
        kind = LimitKind(kind)
        unit = self.hours.day_length if kind is LimitKind.WORK_DAYS else _ONE_HOUR
        return self.elapsed(start, end, kind) / unit

    def deadline(
        self,
        start: datetime,
        amount: Amount,
        kind: LimitKind,
        *,
        pauses: Sequence[Pause] = (),
    ) -> datetime | None:
        """Deadline with suspensions (挂账): paused intervals consume no time.

        Returns None while a pause that began before the deadline is still open (the clock is
        stopped). A pause that begins at or after the deadline changes nothing: the limit had already
        run out.
        """
        kind = LimitKind(kind)
        cursor = ensure_aware(start)
        left = self.duration(amount, kind)
        for pause_start, pause_end in _normalise_pauses(pauses):
            candidate = self._advance(cursor, left, kind)
            if pause_start >= candidate:
                return candidate
            left -= self._measure(cursor, pause_start, kind)
            if pause_end is None:
                return None
            cursor = max(cursor, pause_end)
        return self._advance(cursor, left, kind)

    # ---- core arithmetic on UTC instants

    def _advance(self, start: datetime, need: timedelta, kind: LimitKind) -> datetime:
        if need <= timedelta(0):
            return start
        if not kind.counts_working_time:
            return start + need
        day = self.hours.local_date(start)
        while True:
            if self.is_workday(day):
                for lo, hi in self.hours.intervals(day):
                    if hi <= start:
                        continue
                    begin = max(lo, start)
                    available = hi - begin
                    if available >= need:  # ">=": a limit ending on a period end returns that end
                        return begin + need
                    need -= available
            day += _ONE_DAY

    def _measure(self, start: datetime, end: datetime, kind: LimitKind) -> timedelta:
        if end <= start:
            return timedelta(0)
        if not kind.counts_working_time:
            return end - start
        total = timedelta(0)
        day, last = self.hours.local_date(start), self.hours.local_date(end)
        while day <= last:
            if self.is_workday(day):
                for lo, hi in self.hours.intervals(day):
                    overlap = min(hi, end) - max(lo, start)
                    if overlap > timedelta(0):
                        total += overlap
            day += _ONE_DAY
        return total


def _package_has_year(year: int) -> bool:
    if _cc is None:  # pragma: no cover
        return False
    try:
        _cc.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _whole_micros(value: timedelta) -> Decimal:
    return Decimal(value // timedelta(microseconds=1))


def _normalise_pauses(pauses: Iterable[Pause]) -> list[tuple[datetime, datetime | None]]:
    """Aware/UTC pauses sorted by start; an open pause must be the last one."""
    result: list[tuple[datetime, datetime | None]] = []
    for pause_start, pause_end in pauses:
        lo = ensure_aware(pause_start)
        hi = None if pause_end is None else ensure_aware(pause_end)
        if hi is not None and hi < lo:
            raise ValueError("挂账恢复时间早于挂账开始时间")
        result.append((lo, hi))
    result.sort(key=lambda pause: pause[0])
    if any(hi is None for _, hi in result[:-1]):
        raise ValueError("只有最后一次挂账可以尚未恢复")
    return result


def _active_segments(
    start: datetime, now: datetime, pauses: Iterable[Pause]
) -> Iterator[tuple[datetime, datetime]]:
    """The parts of [start, now] not covered by a pause."""
    cursor = start
    for pause_start, pause_end in _normalise_pauses(pauses):
        if pause_start > cursor:
            yield cursor, min(pause_start, now)
        cursor = max(cursor, now if pause_end is None else pause_end)
        if cursor >= now:
            return
    if cursor < now:
        yield cursor, now


# --------------------------------------------------------------------------- SLA clock


@dataclass
class SlaClock:
    """A running time limit with suspensions, as a case stage holds it."""

    start: datetime
    amount: Amount
    kind: LimitKind
    pauses: list[Pause] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start = ensure_aware(self.start)
        self.kind = LimitKind(self.kind)
        _to_decimal(self.amount)
        self.pauses = list(_normalise_pauses(self.pauses))

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None

    def pause(self, at: datetime) -> None:
        at = ensure_aware(at)
        if self.paused:
            raise ValueError("时限已暂停（挂账中），不能重复挂账")
        if at < self._last_event():
            raise ValueError("挂账时间不能早于时限开始或上次恢复时间")
        self.pauses.append((at, None))

    def resume(self, at: datetime) -> None:
        at = ensure_aware(at)
        if not self.paused:
            raise ValueError("时限未暂停，无需恢复")
        pause_start = self.pauses[-1][0]
        if at < pause_start:
            raise ValueError("恢复时间不能早于挂账开始时间")
        self.pauses[-1] = (pause_start, at)

    def deadline(self, cal: WorkCalendar) -> datetime | None:
        return cal.deadline(self.start, self.amount, self.kind, pauses=self.pauses)

    def consumed(self, cal: WorkCalendar, now: datetime) -> timedelta:
        """Time used so far (working time, or wall time for 紧急工作时), paused intervals excluded."""
        now = ensure_aware(now)
        return sum(
            (cal.elapsed(lo, hi, self.kind) for lo, hi in _active_segments(self.start, now, self.pauses)),
            timedelta(0),
        )

    def remaining(self, cal: WorkCalendar, now: datetime) -> timedelta:
        """Time left before the limit runs out; negative when overdue."""
        return cal.duration(self.amount, self.kind) - self.consumed(cal, now)

    def _last_event(self) -> datetime:
        if not self.pauses:
            return self.start
        last_end = self.pauses[-1][1]
        return self.start if last_end is None else max(self.start, last_end)
