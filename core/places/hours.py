"""Opening hours of a place, local wall-clock time (Asia/Shanghai).

Accepted forms: ``00:00-24:00`` (all day; also ``24小时``/``全天``), ``06:00-22:00``, several ranges
``06:00-12:00,14:00-22:00`` and overnight ranges ``20:00-06:00`` (open from 20:00 until 06:00 the next
morning). Anything else parses to ``None``: the place's hours are unknown and ``open_now`` is null.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from core.kit.clock import to_local

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–~～至]\s*(\d{1,2}):(\d{2})$")
ALL_DAY_WORDS = frozenset({"24小时", "全天", "全天开放", "24h", "24H"})
DAY_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Ranges in minutes after local midnight; ``end`` may be ≤ ``start`` (overnight)."""

    ranges: tuple[tuple[int, int], ...]

    @property
    def all_day(self) -> bool:
        return any(end - start == DAY_MINUTES for start, end in self.ranges)

    def open_at_minute(self, minute: int) -> bool:
        for start, end in self.ranges:
            if start < end:
                if start <= minute < end:
                    return True
            elif minute >= start or minute < end:  # overnight (start == end never parsed)
                return True
        return False

    def open_at(self, instant: datetime) -> bool:
        local = to_local(instant)
        return self.open_at_minute(local.hour * 60 + local.minute)


def _minutes(hours: str, minutes: str, *, end: bool) -> int | None:
    h, m = int(hours), int(minutes)
    if m >= 60:
        return None
    if h == 24 and m == 0 and end:
        return DAY_MINUTES
    if h >= 24:
        return None
    return h * 60 + m


def parse_hours(text: str) -> OpeningHours | None:
    """The parsed hours, or None when empty or not understood."""
    text = text.strip()
    if not text:
        return None
    if text in ALL_DAY_WORDS:
        return OpeningHours(((0, DAY_MINUTES),))
    ranges: list[tuple[int, int]] = []
    for part in re.split(r"[,，;；]", text):
        match = _RANGE.match(part.strip())
        if match is None:
            return None
        start = _minutes(match[1], match[2], end=False)
        end = _minutes(match[3], match[4], end=True)
        if start is None or end is None or start == end:
            return None
        ranges.append((start, end))
    return OpeningHours(tuple(ranges))


def open_now(text: str, now: datetime) -> bool | None:
    """Whether a place with these hours is open at ``now``; None when the hours are unknown."""
    hours = parse_hours(text)
    return None if hours is None else hours.open_at(now)
