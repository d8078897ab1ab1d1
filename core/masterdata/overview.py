"""Counts of the master data, for the console's overview."""

from __future__ import annotations

from sqlmodel import Session, SQLModel

from core.masterdata.repository import count_rows
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
    return [(label, count_rows(session, model)) for label, model in OVERVIEW]
