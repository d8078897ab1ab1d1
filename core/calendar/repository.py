"""Every query on the calendar override tables."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from core.models import CalendarDay, CalendarYear


def entered_years(session: Session) -> list[int]:
    return list(session.exec(select(CalendarYear.year)).all())


def override_days(session: Session) -> dict[date, bool]:
    return {row.day: row.is_workday for row in session.exec(select(CalendarDay)).all()}


def get_year(session: Session, year: int) -> CalendarYear | None:
    return session.get(CalendarYear, year)


def delete_days_of_year(session: Session, year: int) -> None:
    session.exec(
        delete(CalendarDay).where(
            col(CalendarDay.day) >= date(year, 1, 1), col(CalendarDay.day) <= date(year, 12, 31)
        )
    )


def days_of_year(session: Session, year: int) -> list[CalendarDay]:
    stmt = (
        select(CalendarDay)
        .where(col(CalendarDay.day) >= date(year, 1, 1), col(CalendarDay.day) <= date(year, 12, 31))
        .order_by(col(CalendarDay.day))
    )
    return list(session.exec(stmt).all())


def signature(session: Session) -> tuple[object, ...]:
    """Changes whenever an override day or year is added, changed or removed."""
    row = session.execute(
        sa.select(
            sa.select(sa.func.count()).select_from(CalendarDay).scalar_subquery(),
            sa.select(sa.func.max(CalendarDay.updated_at)).scalar_subquery(),
            sa.select(sa.func.count()).select_from(CalendarYear).scalar_subquery(),
            sa.select(sa.func.max(CalendarYear.updated_at)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def get_day(session: Session, day: date) -> CalendarDay | None:
    return session.get(CalendarDay, day)


def all_days(session: Session) -> list[CalendarDay]:
    return list(session.exec(select(CalendarDay).order_by(col(CalendarDay.day))).all())


def all_years(session: Session) -> list[CalendarYear]:
    return list(session.exec(select(CalendarYear).order_by(col(CalendarYear.year))).all())
