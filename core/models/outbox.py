"""Citizen notifications, written in the same transaction as the change they announce (outbox)
and delivered by a job through a channel adapter (WeChat subscribe message, else SMS).

One ``OutboxMessage`` per (case, event, citizen); one ``OutboxDelivery`` per (message, channel): the
unique pair is what makes "at most once per (case, event, channel)" a database fact rather than a hope.
"""

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


class DeliveryChannel(StrEnum):
    WECHAT = "wechat"
    SMS = "sms"


class DeliveryStatus(StrEnum):
    SENDING = "sending"  # claimed and committed before the call; found again only if that run died
    SENT = "sent"
    RETRY = "retry"  # a transient failure: the channel may be tried again by a later run
    REFUSED = "refused"  # WeChat 43101: no one-time consent left for this template
    FAILED = "failed"  # a permanent error, or retries exhausted
    UNKNOWN = "unknown"  # the call may have reached the provider: never sent again on this channel
    NO_CONSENT = "no_consent"  # WeChat not tried: no consent recorded for the template


class OutboxDelivery(Timestamped, table=True):
    """One channel's attempt at one outbox message."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (
        sa.UniqueConstraint("message_id", "channel", name="uq_outbox_delivery_message_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox_message.id", index=True)
    channel: DeliveryChannel = Field(sa_type=StrEnumType(DeliveryChannel, 16))
    status: DeliveryStatus = Field(sa_type=StrEnumType(DeliveryStatus, 16))
    template_id: str = Field(default="", max_length=64)  # WeChat: the template whose consent was spent
    detail: str = Field(default="", max_length=500)
