"""The 12345 work-order exchange (docs/exchange-12345.md): orders received from the 12345 government
hotline platform, the status pushes owed to it, the nonces of signed requests and the position of the
history scan that derives pushes.

One ``ExchangeOrder`` per 12345 order number (the idempotency key of the inbound endpoint) and per case.
One ``ExchangePush`` per (order, event, seq): ``seq`` is the id of the case history row the push was
derived from, so deriving twice, or a retried transition, never pushes twice; pushes of one order are
delivered in ``seq`` order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.models.base import Timestamped, created_at_field


class ExchangeOrder(Timestamped, table=True):
    __tablename__ = "exchange_order"

    id: int | None = Field(default=None, primary_key=True)
    order_no: str = Field(max_length=64, unique=True, index=True)
    case_id: int = Field(foreign_key="case.id", unique=True, index=True)
    # SHA-256 (hex) of the received order in canonical JSON: a repeat must be the same order.
    payload_hash: str = Field(max_length=64)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # 12345's own deadline
    # No usable position came with the order: the case sits on the configured default point.
    location_flagged: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class ExchangePushStatus(StrEnum):
    PENDING = "pending"  # not acknowledged yet (retried with back-off)
    SENT = "sent"  # acknowledged by the platform
    FAILED = "failed"  # refused for good: later pushes of the order wait until someone re-arms it


class ExchangePush(Timestamped, table=True):
    __tablename__ = "exchange_push"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "event", "seq", name="uq_exchange_push_order_event_seq"),
        # The head of one order's queue; the sweep's due pushes.
        sa.Index("ix_exchange_push_order_status_seq", "order_id", "status", "seq"),
        sa.Index("ix_exchange_push_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="exchange_order.id")
    event: str = Field(max_length=16)
    seq: int  # the case_event id it was derived from: the delivery order within the order
    payload: str = Field(default="{}", sa_type=sa.Text)  # JSON: the body sent (without push_id)
    status: ExchangePushStatus = Field(
        default=ExchangePushStatus.PENDING, sa_type=StrEnumType(ExchangePushStatus, 16)
    )
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=500)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ExchangeNonce(SQLModel, table=True):
    """A nonce of a signed inbound request, kept for twice the timestamp window (without Redis)."""

    __tablename__ = "exchange_nonce"

    nonce: str = Field(primary_key=True, max_length=64)
    created_at: datetime = created_at_field()


class ExchangeCursor(SQLModel, table=True):
    """How far the case history has been scanned for pushes (a case_event id)."""

    __tablename__ = "exchange_cursor"

    name: str = Field(primary_key=True, max_length=32)
    last_event_id: int = 0
    updated_at: datetime = created_at_field()
