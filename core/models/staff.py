"""Staff accounts of the console and the field apps."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field

from core.kit.sqltypes import StrEnumType
from core.models.base import Timestamped


class StaffRole(StrEnum):
    OPERATOR = "operator"
    SHIFT_LEAD = "shift_lead"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    HANDLER = "handler"
    LEADER = "leader"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return STAFF_ROLE_LABELS[self]


STAFF_ROLE_LABELS: dict[StaffRole, str] = {
    StaffRole.OPERATOR: "受理员",
    StaffRole.SHIFT_LEAD: "值班长",
    StaffRole.DISPATCHER: "派遣员",
    StaffRole.SUPERVISOR: "监督员",
    StaffRole.HANDLER: "处置人员",
    StaffRole.LEADER: "领导",
    StaffRole.ADMIN: "系统管理员",
}


class StaffUser(Timestamped, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=64)
    role: StaffRole = Field(sa_type=StrEnumType(StaffRole, 16))
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    password_hash: str = Field(max_length=256)
    active: bool = True
