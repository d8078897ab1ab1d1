"""All tables of zhcg, one module per aggregate. Importing this package registers every table on
``SQLModel.metadata`` (Alembic and the tests rely on that)."""

from core.models.areas import AdminArea, AreaLevel, ResponsibilityGrid, UnitGrid
from core.models.calendar import CalendarDay, CalendarYear
from core.models.cases import (
    ActorKind,
    Case,
    CaseEvent,
    CaseNumberCounter,
    CasePause,
    CasePhoto,
    CaseRequest,
    CaseStatus,
    Channel,
    PhotoStage,
    Priority,
    RequestKind,
    RequestStatus,
)
from core.models.categories import Category, CategoryKind, CategoryLevel, RegisterStandard, RoutingRule
from core.models.citizens import Citizen, SmsCode
from core.models.departments import Department, DepartmentKind
from core.models.imports import ImportBatch
from core.models.outbox import OutboxMessage, OutboxStatus
from core.models.places import Place, PlaceKind
from core.models.rewards import Redemption, RedemptionStatus, RewardEntry, RewardItem, RewardReason
from core.models.staff import LoginFailure, StaffRole, StaffUser, SupervisorGrid
from core.models.uploads import OwnerKind, Upload, UploadStatus

__all__ = [
    "ActorKind",
    "AdminArea",
    "AreaLevel",
    "CalendarDay",
    "CalendarYear",
    "Case",
    "CaseEvent",
    "CaseNumberCounter",
    "CasePause",
    "CasePhoto",
    "CaseRequest",
    "CaseStatus",
    "Category",
    "CategoryKind",
    "CategoryLevel",
    "Channel",
    "Citizen",
    "Department",
    "DepartmentKind",
    "ImportBatch",
    "LoginFailure",
    "OutboxMessage",
    "OutboxStatus",
    "OwnerKind",
    "PhotoStage",
    "Place",
    "PlaceKind",
    "Priority",
    "Redemption",
    "RedemptionStatus",
    "RegisterStandard",
    "RequestKind",
    "RequestStatus",
    "ResponsibilityGrid",
    "RewardEntry",
    "RewardItem",
    "RewardReason",
    "RoutingRule",
    "SmsCode",
    "StaffRole",
    "StaffUser",
    "SupervisorGrid",
    "UnitGrid",
    "Upload",
    "UploadStatus",
]
