"""The one clock of zhcg: always timezone-aware UTC; local time only at the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_aware(value: datetime) -> datetime:
    """Refuse naive datetimes: an instant without a zone is a bug waiting for the wrong server clock."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: an explicit time zone is required")
    return value.astimezone(UTC)


def to_local(value: datetime, tz: ZoneInfo = SHANGHAI) -> datetime:
    return ensure_aware(value).astimezone(tz)


def local_isoformat(value: datetime) -> str:
    """How instants leave the system: ISO 8601 in Asia/Shanghai with its offset (+08:00)."""
    return to_local(value).isoformat()
