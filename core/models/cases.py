"""Cases (案件) and everything that happens to them: history, photos, pauses (挂账), requests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.kit.workcal import LimitKind
from core.models.base import Timestamped, created_at_field


class CaseStatus(StrEnum):
    PENDING = "pending"  # 待受理: a citizen or hotline report waiting for an operator
    VERIFYING = "verifying"  # 核实中: a supervisor checks on site whether it is real
    ACCEPTED = "accepted"  # 待立案: accepted, waiting for registration
    REGISTERED = "registered"  # 待派遣: registered, waiting for a department
    DISPATCHED = "dispatched"  # 处置中: the department's clock runs
    SUSPENDED = "suspended"  # 挂账: clock stopped
    HANDLED = "handled"  # 待核查: the department reported it fixed
    CHECKING = "checking"  # 核查中: a supervisor checks on site
    CLOSED = "closed"  # 已结案
    VOIDED = "voided"  # 已作废 / 不予立案
    MERGED = "merged"  # 已合并 into another case


class Channel(StrEnum):
    SUPERVISOR = "supervisor"
    MINIPROGRAM = "miniprogram"
    APP = "app"
    WEB = "web"
    HOTLINE = "hotline"
    GOV12345 = "gov12345"
    VIDEO = "video"
    REFERRAL = "referral"
    OPEN311 = "open311"


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class ActorKind(StrEnum):
    CITIZEN = "citizen"
    STAFF = "staff"
    SYSTEM = "system"


class PhotoStage(StrEnum):
    REPORT = "report"
    HANDLING = "handling"
    CHECK = "check"


class RequestKind(StrEnum):
    EXTENSION = "extension"  # 延期
    SUSPENSION = "suspension"  # 挂账


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    LAPSED = "lapsed"  # the case was returned or handled before a decision


class Case(Timestamped, table=True):
    __tablename__ = "case"
    __table_args__ = (
        sa.UniqueConstraint("reporter_citizen_id", "idempotency_key", name="uq_case_reporter_idempotency"),
        # Reports of one device in a time window (the per-device limit, the shared-device flag).
        sa.Index("ix_case_reporter_device_created_at", "reporter_device", "created_at"),
        # Reports of one citizen in a time window (the per-citizen limit, the flags, "mine").
        sa.Index("ix_case_reporter_citizen_created_at", "reporter_citizen_id", "created_at"),
        # Keyset pages of the console's queues sorted by report time (all cases, a department's cases).
        sa.Index("ix_case_created_at_id", "created_at", "id"),
        sa.Index("ix_case_department_created_at_id", "department_id", "created_at", "id"),
        # PostgreSQL also has ix_case_current_due_at_id on the current deadline expression
        # (core.cases.listing.deadline_key; created by migration 2026_11_21_0745, not reflected).
    )

    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(max_length=32, unique=True, index=True)
    channel: Channel = Field(sa_type=StrEnumType(Channel, 16))
    status: CaseStatus = Field(sa_type=StrEnumType(CaseStatus, 16), index=True)
    priority: Priority = Field(default=Priority.NORMAL, sa_type=StrEnumType(Priority, 16))

    reporter_citizen_id: int | None = Field(default=None, foreign_key="citizen.id", index=True)
    reporter_staff_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    reporter_name: str = Field(default="", max_length=64)
    reporter_phone: str = Field(default="", max_length=20)
    idempotency_key: str | None = Field(default=None, max_length=64)
    # Keyed hash (HMAC-SHA256, truncated) of the client's X-Device-Id; the raw identifier is never stored.
    reporter_device: str | None = Field(default=None, max_length=32)
    is_public: bool = True
    is_anonymous: bool = False

    category_id: int = Field(foreign_key="category.id", index=True)
    register_standard_id: int | None = Field(default=None, foreign_key="register_standard.id")
    description: str = Field(sa_type=sa.Text)
    address: str = Field(default="", max_length=256)
    lng: float
    lat: float
    unit_grid_code: str = Field(max_length=15, index=True)
    community_code: str = Field(max_length=12, index=True)
    street_code: str = Field(max_length=9, index=True)
    district_code: str = Field(max_length=6)
    responsibility_grid_code: str | None = Field(default=None, max_length=20, index=True)

    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    assigned_supervisor_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    merged_into_id: int | None = Field(default=None, foreign_key="case.id")
    reply: str = Field(default="", sa_type=sa.Text)  # 答复: what the citizen is told at the end

    # Time limits. The handling clock (department) can pause (挂账) and be extended (延期).
    register_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dispatch_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    handle_limit_kind: LimitKind | None = Field(default=None, sa_type=StrEnumType(LimitKind, 16))
    handle_limit_amount: Decimal | None = Field(default=None, max_digits=8, decimal_places=2)
    handle_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    handle_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    check_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    overdue: bool = Field(default=False, index=True)
    overdue_stages: str = Field(default="", max_length=64)
    urge_count: int = 0

    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    registered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    handled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    rating: int | None = None
    rating_comment: str = Field(default="", max_length=500)
    rated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Hotline cases: the caller's answer to the follow-up call (回访), DTMF 1 满意 / 2 基本满意 / 3 不满意.
    follow_up_satisfaction: int | None = None

    version: int = Field(default=1)  # optimistic concurrency: every UPDATE checks and bumps it

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class CaseEvent(SQLModel, table=True):
    """One row of a case's history (who, role, action, from, to, note, when)."""

    __tablename__ = "case_event"
    __table_args__ = (
        # Evaluation: events of one kind in a period; one case's events of one kind.
        sa.Index("ix_case_event_action_created_at", "action", "created_at"),
        sa.Index("ix_case_event_case_action", "case_id", "action"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    actor_kind: ActorKind = Field(sa_type=StrEnumType(ActorKind, 16))
    actor_id: int | None = None
    actor_role: str = Field(default="", max_length=16)
    action: str = Field(max_length=32)
    from_status: CaseStatus | None = Field(default=None, sa_type=StrEnumType(CaseStatus, 16))
    to_status: CaseStatus = Field(sa_type=StrEnumType(CaseStatus, 16))
    note: str = Field(default="", sa_type=sa.Text)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    created_at: datetime = created_at_field()


class CasePhoto(SQLModel, table=True):
    __tablename__ = "case_photo"
    __table_args__ = (sa.UniqueConstraint("case_id", "upload_id", name="uq_case_photo_case_upload"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    upload_id: str = Field(foreign_key="upload.id", max_length=32)
    stage: PhotoStage = Field(sa_type=StrEnumType(PhotoStage, 16))
    created_at: datetime = created_at_field()


class CasePause(SQLModel, table=True):
    """A suspension (挂账) of the handling clock."""

    __tablename__ = "case_pause"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str = Field(default="", max_length=500)


class CaseRequest(Timestamped, table=True):
    """A department's request for an extension (延期) or a suspension (挂账), decided by a dispatcher."""

    __tablename__ = "case_request"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: RequestKind = Field(sa_type=StrEnumType(RequestKind, 16))
    status: RequestStatus = Field(default=RequestStatus.PENDING, sa_type=StrEnumType(RequestStatus, 16))
    amount: Decimal | None = Field(default=None, max_digits=8, decimal_places=2)
    reason: str = Field(max_length=500)
    requested_by_id: int = Field(foreign_key="staff_user.id")
    decided_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CaseNumberCounter(SQLModel, table=True):
    """Per day and channel, the last sequence used in a case number (never reused)."""

    __tablename__ = "case_number_counter"

    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=16)
    last: int = 0


class CaseFollower(SQLModel, table=True):
    """A citizen who said "me too" (我也遇到) about a case someone else reported: told like the reporter."""

    __tablename__ = "case_follower"

    case_id: int = Field(foreign_key="case.id", primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", primary_key=True, index=True)
    created_at: datetime = created_at_field()
