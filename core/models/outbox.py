"""Citizen notifications, written in the same transaction as the change they announce (outbox)
and delivered by a job through a channel adapter (SMS now, WeChat later)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.models.base import Timestamped


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"  # no channel can reach the citizen (e.g. no phone)
    FAILED = "failed"  # gave up after retries


class OutboxMessage(Timestamped, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "event", "citizen_id", name="uq_outbox_message_case_event_citizen"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    event: str = Field(max_length=32)
    payload: str = Field(default="{}", sa_type=sa.Text)  # JSON: what the message says, channel-neutral
    status: OutboxStatus = Field(
        default=OutboxStatus.PENDING, sa_type=StrEnumType(OutboxStatus, 16), index=True
    )
    channel: str = Field(default="", max_length=16)
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
