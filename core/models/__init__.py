"""All tables of zhcg, one module per aggregate. Importing this package registers every table on
``SQLModel.metadata`` (Alembic and the tests rely on that)."""

from core.models.areas import AdminArea, AreaLevel, ResponsibilityGrid, UnitGrid
from core.models.calendar import CalendarDay, CalendarYear
from core.models.calls import (
    Call,
    CallDirection,
    CallDisposition,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
)
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
from core.models.console import AuditEntry, StaffSession
from core.models.departments import Department, DepartmentKind
from core.models.exchange import (
    ExchangeCursor,
    ExchangeNonce,
    ExchangeOrder,
    ExchangePush,
    ExchangePushStatus,
)
from core.models.fines import FineLookup, FineStatus, PenaltyDecision
from core.models.imports import ImportBatch
from core.models.jobs import JobOutbox
from core.models.open311 import Open311Client, Open311Token
from core.models.outbox import DeliveryChannel, DeliveryStatus, OutboxDelivery, OutboxMessage, OutboxStatus
from core.models.payments import (
    MismatchKind,
    NotificationVerdict,
    PaymentChannel,
    PaymentClient,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    ReconciliationItem,
    ReconciliationRun,
    RefundStatus,
)
from core.models.places import Place, PlaceKind
from core.models.replies import ReplyTemplate
from core.models.rewards import Redemption, RedemptionStatus, RewardEntry, RewardItem, RewardReason
from core.models.staff import LoginFailure, StaffRole, StaffUser, SupervisorGrid
from core.models.uploads import OwnerKind, Upload, UploadStatus
from core.models.wechat import SubscribeConsent

__all__ = [
    "ActorKind",
    "AdminArea",
    "AreaLevel",
    "AuditEntry",
    "CalendarDay",
    "CalendarYear",
    "Call",
    "CallDirection",
    "CallDisposition",
    "CallOutcome",
    "CallState",
    "CallTask",
    "CallTaskKind",
    "CallTaskStatus",
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
    "DeliveryChannel",
    "DeliveryStatus",
    "Department",
    "DepartmentKind",
    "ExchangeCursor",
    "ExchangeNonce",
    "ExchangeOrder",
    "ExchangePush",
    "ExchangePushStatus",
    "FineLookup",
    "FineStatus",
    "ImportBatch",
    "JobOutbox",
    "LoginFailure",
    "MismatchKind",
    "NotificationVerdict",
    "Open311Client",
    "Open311Token",
    "OutboxDelivery",
    "OutboxMessage",
    "OutboxStatus",
    "OwnerKind",
    "PaymentChannel",
    "PaymentClient",
    "PaymentNotification",
    "PaymentOrder",
    "PaymentOrderStatus",
    "PaymentRefund",
    "PenaltyDecision",
    "PhotoStage",
    "Place",
    "PlaceKind",
    "Priority",
    "ReconciliationItem",
    "ReconciliationRun",
    "Redemption",
    "RedemptionStatus",
    "RefundStatus",
    "RegisterStandard",
    "ReplyTemplate",
    "RequestKind",
    "RequestStatus",
    "ResponsibilityGrid",
    "RewardEntry",
    "RewardItem",
    "RewardReason",
    "RoutingRule",
    "SmsCode",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "SubscribeConsent",
    "SupervisorGrid",
    "UnitGrid",
    "Upload",
    "UploadStatus",
]
