"""What the APIs return about cases (citizen and staff views)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, PlainSerializer

from core.kit.clock import local_isoformat

# Instants leave the API in Asia/Shanghai time with an explicit offset (stored as UTC).
LocalTime = Annotated[datetime, PlainSerializer(local_isoformat, return_type=str)]


class PhotoRef(BaseModel):
    upload_id: str
    stage: str


class TimelineEntry(BaseModel):
    at: LocalTime
    step: str
    text: str


class CitizenCaseSummary(BaseModel):
    case_no: str
    status: str
    category: str
    description: str
    address: str
    reported_at: LocalTime


class CitizenCaseView(CitizenCaseSummary):
    timeline: list[TimelineEntry]
    report_photos: list[PhotoRef]
    handling_photos: list[PhotoRef]
    reply: str | None
    can_rate: bool
    rating: int | None
    rating_comment: str | None


class NamedRef(BaseModel):
    id: int | None = None
    code: str | None = None
    name: str


class HistoryEntry(BaseModel):
    at: LocalTime
    action: str
    action_label: str
    actor_kind: str
    actor_role: str
    actor_name: str | None
    from_status: str | None
    to_status: str
    note: str


class RequestView(BaseModel):
    kind: str
    status: str
    amount: str | None
    reason: str
    requested_at: LocalTime


class StandardView(BaseModel):
    id: int
    seq: int
    condition: str
    time_limit_kind: str
    time_limit_label: str
    time_limit_amount: str
    close_condition: str


class StaffCaseSummary(BaseModel):
    case_no: str
    status: str
    status_label: str
    channel: str
    priority: str
    category: NamedRef
    description: str
    address: str
    street: str
    community: str
    department: NamedRef | None
    reported_at: LocalTime
    handle_due_at: LocalTime | None
    overdue: bool
    follower_count: int = 0
    version: int


class ReporterFlag(BaseModel):
    """A suspicious pattern in the reporter's recent reports, for staff only (computed when read)."""

    code: str
    label: str
    detail: str


class StaffCaseView(StaffCaseSummary):
    lng: float
    lat: float
    unit_grid_code: str
    responsibility_grid_code: str | None
    reporter: str
    reporter_phone: str | None
    reporter_flags: list[ReporterFlag] = []
    is_anonymous: bool
    is_public: bool
    register_standard: StandardView | None
    standards: list[StandardView]
    suggested_department: NamedRef | None
    assigned_supervisor: NamedRef | None
    register_due_at: LocalTime | None
    dispatch_due_at: LocalTime | None
    check_due_at: LocalTime | None
    overdue_stages: list[str]
    urge_count: int
    reply: str
    rating: int | None
    rating_comment: str
    photos: list[PhotoRef]
    requests: list[RequestView]
    history: list[HistoryEntry]
    allowed_actions: list[str]


class CategoryNode(BaseModel):
    code: str
    name: str
    kind: str
    hints: list[str] = []
    children: list[CategoryNode] = []


class PublicCase(BaseModel):
    """A case as anyone may see it near a place: what and where, never who."""

    case_no: str
    category: str
    category_code: str
    status: str
    address: str
    description: str
    lng: float
    lat: float
    distance_m: float
    reported_at: LocalTime
