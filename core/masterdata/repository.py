"""Every query the importers make."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from core.models import AdminArea, Category, RegisterStandard, RoutingRule

M = TypeVar("M", bound=SQLModel)


def all_by_code(session: Session, model: type[M]) -> dict[str, M]:
    code = model.code  # type: ignore[attr-defined]
    return {row.code: row for row in session.exec(select(model).order_by(code)).all()}  # type: ignore[attr-defined]


def areas_by_code(session: Session) -> dict[str, AdminArea]:
    return all_by_code(session, AdminArea)


def standards_by_key(session: Session) -> dict[tuple[int, int], RegisterStandard]:
    return {(row.category_id, row.seq): row for row in session.exec(select(RegisterStandard)).all()}


def routing_by_key(session: Session) -> dict[tuple[int, int | None], RoutingRule]:
    return {(row.category_id, row.area_id): row for row in session.exec(select(RoutingRule)).all()}


def minor_categories(session: Session) -> dict[str, Category]:
    stmt = select(Category).where(col(Category.level) == "minor")
    return {row.code: row for row in session.exec(stmt).all()}


def count_rows(session: Session, model: type[SQLModel]) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def assign(row: SQLModel, values: dict[str, Any]) -> bool:
    """Set changed attributes; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed
