"""Every query the geocoder needs: grids with their area codes, names, routing, and a signature
that changes whenever any of them does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models import (
    AdminArea,
    Category,
    Department,
    ImportBatch,
    ResponsibilityGrid,
    RoutingRule,
    UnitGrid,
)


@dataclass(frozen=True)
class GridRow:
    code: str
    geometry: str
    community_code: str
    responsibility_grid_code: str | None


def signature(session: Session) -> tuple[Any, ...]:
    row = session.execute(
        sa.select(
            sa.select(sa.func.max(ImportBatch.id)).scalar_subquery(),
            sa.select(sa.func.count()).select_from(UnitGrid).scalar_subquery(),
            sa.select(sa.func.max(UnitGrid.updated_at)).scalar_subquery(),
            sa.select(sa.func.count()).select_from(RoutingRule).scalar_subquery(),
            sa.select(sa.func.max(RoutingRule.updated_at)).scalar_subquery(),
            sa.select(sa.func.max(Department.updated_at)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def grid_rows(session: Session) -> Iterator[GridRow]:
    community = sa.orm.aliased(AdminArea)
    stmt = (
        sa.select(
            col(UnitGrid.code), col(UnitGrid.geometry), col(community.code), col(ResponsibilityGrid.code)
        )
        .join(community, col(UnitGrid.community_id) == community.id)
        .outerjoin(ResponsibilityGrid, col(UnitGrid.responsibility_grid_id) == ResponsibilityGrid.id)
        .order_by(col(UnitGrid.code))
    )
    for code, geometry, community_code, resp_code in session.execute(stmt):
        yield GridRow(code, geometry, community_code, resp_code)


def area_names(session: Session) -> dict[str, str]:
    return {code: name for code, name in session.execute(sa.select(col(AdminArea.code), col(AdminArea.name)))}


def responsibility_names(session: Session) -> dict[str, str]:
    return {
        code: name
        for code, name in session.execute(
            sa.select(col(ResponsibilityGrid.code), col(ResponsibilityGrid.name))
        )
    }


def routing(session: Session) -> dict[tuple[str, str | None], tuple[str, str]]:
    stmt = (
        sa.select(col(Category.code), col(AdminArea.code), col(Department.code), col(Department.name))
        .select_from(RoutingRule)
        .join(Category, col(RoutingRule.category_id) == Category.id)
        .join(Department, col(RoutingRule.department_id) == Department.id)
        .outerjoin(AdminArea, col(RoutingRule.area_id) == AdminArea.id)
        .where(col(Department.active))
    )
    return {
        (category, area): (dept_code, dept_name)
        for category, area, dept_code, dept_name in session.execute(stmt)
    }


def minor_category_codes(session: Session) -> set[str]:
    stmt = select(Category.code).where(col(Category.level) == "minor", col(Category.active))
    return set(session.exec(stmt).all())
