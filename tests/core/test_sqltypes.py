"""Column types behave the same on SQLite and PostgreSQL: aware UTC datetimes, enums by value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError
from sqlmodel import Session, col, select

from core.models import AreaLevel, Department, DepartmentKind


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    shanghai = timezone(timedelta(hours=8))
    department = Department(code="TZ1", name="时区测试", kind=DepartmentKind.OTHER)
    department.created_at = datetime(2026, 10, 1, 8, 30, tzinfo=shanghai)
    session.add(department)
    session.commit()
    session.expire_all()
    loaded = session.exec(select(Department).where(col(Department.code) == "TZ1")).one()
    assert loaded.created_at == datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    assert loaded.created_at.tzinfo is not None


def test_naive_datetime_is_refused(session: Session) -> None:
    department = Department(code="TZ2", name="时区测试", kind=DepartmentKind.OTHER)
    department.created_at = datetime(2026, 10, 1, 8, 30)
    session.add(department)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_enums_are_stored_as_their_value(session: Session) -> None:
    session.add(Department(code="EN1", name="枚举测试", kind=DepartmentKind.SANITATION))
    session.flush()
    raw = session.execute(sa.text("SELECT kind FROM department WHERE code = 'EN1'")).scalar_one()
    assert raw == "sanitation"
    session.expire_all()
    loaded = session.exec(select(Department).where(col(Department.code) == "EN1")).one()
    assert loaded.kind is DepartmentKind.SANITATION
    assert AreaLevel("street").label == "街道"
