"""Departments (专业部门 / 责任单位) that handle cases."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field

from core.kit.sqltypes import StrEnumType
from core.models.base import Timestamped


class DepartmentKind(StrEnum):
    MUNICIPAL = "municipal"
    SANITATION = "sanitation"
    LANDSCAPING = "landscaping"
    ENFORCEMENT = "enforcement"
    UTILITY = "utility"
    TELECOM = "telecom"
    TRAFFIC = "traffic"
    HOUSING = "housing"
    ENVIRONMENT = "environment"
    STREET = "street"
    OTHER = "other"


class Department(Timestamped, table=True):
    __tablename__ = "department"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=128)
    kind: DepartmentKind = Field(sa_type=StrEnumType(DepartmentKind, 16))
    parent_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    contact_name: str = Field(default="", max_length=64)
    contact_phone: str = Field(default="", max_length=32)
    active: bool = True
