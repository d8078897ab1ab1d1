"""Counts of the master data, for the console's overview."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from core.models import AdminArea, Category, Department, Place, RegisterStandard, RoutingRule, UnitGrid
from core.models.areas import ResponsibilityGrid

OVERVIEW: tuple[tuple[str, type[SQLModel]], ...] = (
    ("行政区划", AdminArea),
    ("单元网格", UnitGrid),
    ("责任网格", ResponsibilityGrid),
    ("专业部门", Department),
    ("案件类别", Category),
    ("立案标准", RegisterStandard),
    ("派遣规则", RoutingRule),
    ("便民设施", Place),
)


def master_data_counts(session: Session) -> list[tuple[str, int]]:
    return [
        (label, int(session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()))
        for label, model in OVERVIEW
    ]
