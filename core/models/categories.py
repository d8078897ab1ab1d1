"""Case categories (部件/事件 × 大类/小类), their register standards and routing rules."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from core.kit.sqltypes import StrEnumType
from core.kit.workcal import LimitKind
from core.models.base import Timestamped


class CategoryKind(StrEnum):
    COMPONENT = "component"
    EVENT = "event"

    @property
    def label(self) -> str:
        return {"component": "部件", "event": "事件"}[self.value]

    @property
    def code_prefix(self) -> str:
        return {"component": "BJ", "event": "SJ"}[self.value]


class CategoryLevel(StrEnum):
    MAJOR = "major"
    MINOR = "minor"


class Category(Timestamped, table=True):
    """Codes carry the kind: ``BJ0101`` (部件 01 major, 01 minor), ``SJ04`` (事件 major 04)."""

    __tablename__ = "category"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)
    kind: CategoryKind = Field(sa_type=StrEnumType(CategoryKind, 16))
    level: CategoryLevel = Field(sa_type=StrEnumType(CategoryLevel, 8))
    parent_id: int | None = Field(default=None, foreign_key="category.id", index=True)
    name: str = Field(max_length=64)
    active: bool = True


class RegisterStandard(Timestamped, table=True):
    """One register condition (立案条件) of a minor category with its time limit and close condition."""

    __tablename__ = "register_standard"
    __table_args__ = (sa.UniqueConstraint("category_id", "seq", name="uq_register_standard_category_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    category_id: int = Field(foreign_key="category.id", index=True)
    seq: int
    condition: str = Field(max_length=512)
    time_limit_kind: LimitKind = Field(sa_type=StrEnumType(LimitKind, 16))
    time_limit_amount: Decimal = Field(max_digits=8, decimal_places=2)
    close_condition: str = Field(max_length=512)


class RoutingRule(Timestamped, table=True):
    """Which department handles a minor category in an area; ``area_id`` NULL is the default."""

    __tablename__ = "routing_rule"
    __table_args__ = (
        sa.UniqueConstraint("category_id", "area_id", name="uq_routing_rule_category_area"),
        sa.Index(
            "uq_routing_rule_default",
            "category_id",
            unique=True,
            sqlite_where=sa.text("area_id IS NULL"),
            postgresql_where=sa.text("area_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    category_id: int = Field(foreign_key="category.id", index=True)
    area_id: int | None = Field(default=None, foreign_key="admin_area.id", index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
