"""SQL expressions that differ between PostgreSQL and SQLite: local hour and weekday, hours between.

Local time is Asia/Shanghai. PostgreSQL converts with its time-zone database; SQLite adds a fixed
+8 hours, which is exact for China (UTC+8 all year, no daylight saving since 1991).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from core.kit.clock import SHANGHAI

SQLITE_OFFSET = "+8 hours"


def local_hour(dialect: str, instant: Any) -> ColumnElement[Any]:
    """The local hour 0–23 of a stored UTC instant."""
    if dialect == "postgresql":
        return sa.cast(sa.extract("hour", sa.func.timezone(str(SHANGHAI), instant)), sa.Integer)
    return sa.cast(sa.func.strftime("%H", instant, SQLITE_OFFSET), sa.Integer)


def local_weekday(dialect: str, instant: Any) -> ColumnElement[Any]:
    """The local ISO weekday: 1 = Monday … 7 = Sunday."""
    if dialect == "postgresql":
        return sa.cast(sa.extract("isodow", sa.func.timezone(str(SHANGHAI), instant)), sa.Integer)
    sunday_zero = sa.cast(sa.func.strftime("%w", instant, SQLITE_OFFSET), sa.Integer)
    return (sunday_zero + 6) % 7 + 1


def hours_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Clock hours from ``earlier`` to ``later`` as a float."""
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", later - earlier), sa.Float) / 3600.0
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 24.0
