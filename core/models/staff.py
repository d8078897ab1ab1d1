"""Staff accounts of the console and the field apps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.kit.clock import utcnow
from core.kit.sqltypes import StrEnumType, UTCDateTime
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
    # Where the account may act: a district, street or community (None: the whole city).
    area_id: int | None = Field(default=None, foreign_key="admin_area.id", index=True)
    phone: str = Field(default="", max_length=20)
    on_duty: bool = False  # supervisors: receives verify/check tasks
    last_lng: float | None = None
    last_lat: float | None = None
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    token_version: int = 0
    # Hotline agents: the Asterisk interface of their phone (e.g. PJSIP/8001), for the screen-pop.
    agent_interface: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    # Set when an admin creates the account or resets its password: the console asks for a new one.
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SupervisorGrid(SQLModel, table=True):
    """Which responsibility grids a supervisor patrols."""

    __tablename__ = "supervisor_grid"

    staff_id: int = Field(foreign_key="staff_user.id", primary_key=True)
    responsibility_grid_id: int = Field(foreign_key="responsibility_grid.id", primary_key=True, index=True)


class LoginFailure(SQLModel, table=True):
    """A failed staff password login, counted per username and per client address to throttle guessing."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    client_ip: str = Field(default="", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
