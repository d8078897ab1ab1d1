"""Hotline calls (12319 / 12345 lines on Asterisk) and the call-back and follow-up tasks they create.

One ``Call`` per Linkedid (the Uniqueid of the oldest channel of a call): every leg, queue and agent
event of that call updates the same row, so a call is never split or counted twice, also when events
are replayed after a reconnection.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.models.base import Timestamped


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"  # call-backs and follow-up calls we originate


class CallState(StrEnum):
    RINGING = "ringing"  # the channel exists, not yet in a queue or with an agent
    QUEUED = "queued"  # waiting in a queue
    CONNECTED = "connected"  # talking to an agent (or, outbound, answered)
    ENDED = "ended"


class CallOutcome(StrEnum):
    ANSWERED = "answered"  # an agent talked to the caller
    ABANDONED = "abandoned"  # the caller hung up while waiting in the queue
    MISSED = "missed"  # ended without reaching an agent otherwise (no agent, IVR only, closed line)
    FAILED = "failed"  # outbound: not answered / busy / unreachable


class CallDisposition(StrEnum):
    NONE = ""
    CASE = "case"  # a work order was created from the call
    ENQUIRY = "enquiry"  # answered without a work order (a pure enquiry), recorded as such
    LINKED = "linked"  # about an existing case (progress question, complaint about a case)


class Call(Timestamped, table=True):
    __tablename__ = "call"

    id: int | None = Field(default=None, primary_key=True)
    linkedid: str = Field(max_length=64, unique=True, index=True)
    direction: CallDirection = Field(sa_type=StrEnumType(CallDirection, 16))
    line: str = Field(default="", max_length=16)  # the DID dialled: 12319, 12345
    caller_number: str = Field(default="", max_length=32, index=True)
    queue: str = Field(default="", max_length=64)
    agent_interface: str = Field(default="", max_length=64)  # e.g. PJSIP/8001
    agent_staff_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    state: CallState = Field(sa_type=StrEnumType(CallState, 16), index=True)
    outcome: CallOutcome | None = Field(default=None, sa_type=StrEnumType(CallOutcome, 16), index=True)
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    hold_s: int | None = None  # seconds in the queue before an agent answered or the caller gave up
    talk_s: int | None = None
    hangup_cause: int | None = None  # Q.850 cause code
    hangup_cause_text: str = Field(default="", max_length=64)
    recording: str = Field(default="", max_length=255)  # file name from the dialplan's UserEvent
    transferred_to: str = Field(default="", max_length=64)
    disposition: CallDisposition = Field(
        default=CallDisposition.NONE,
        sa_type=StrEnumType(CallDisposition, 16),
        sa_column_kwargs={"server_default": ""},
    )
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    note: str = Field(default="", sa_type=sa.Text)


class CallTaskKind(StrEnum):
    CALLBACK = "callback"  # a missed or abandoned call is called back
    FOLLOW_UP = "follow_up"  # 回访: after a hotline case is closed, ask the caller's satisfaction


class CallTaskStatus(StrEnum):
    PENDING = "pending"
    DIALING = "dialing"  # an Originate is under way
    DONE = "done"
    UNREACHABLE = "unreachable"  # no answer after the allowed tries (recorded, not retried)
    CANCELLED = "cancelled"  # e.g. the caller called again and was answered


class CallTask(Timestamped, table=True):
    """A call we owe: a call-back for a missed call, or a follow-up (回访) for a closed hotline case."""

    __tablename__ = "call_task"
    __table_args__ = (
        sa.UniqueConstraint("call_id", "kind", name="uq_call_task_call_kind"),
        sa.UniqueConstraint("case_id", "kind", name="uq_call_task_case_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: CallTaskKind = Field(sa_type=StrEnumType(CallTaskKind, 16))
    status: CallTaskStatus = Field(
        default=CallTaskStatus.PENDING, sa_type=StrEnumType(CallTaskStatus, 16), index=True
    )
    number: str = Field(max_length=32)
    call_id: int | None = Field(default=None, foreign_key="call.id", index=True)  # the missed call
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)  # the closed case
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_result: str = Field(default="", max_length=200)
    outbound_call_id: int | None = Field(default=None, foreign_key="call.id")  # the latest try
    satisfaction: int | None = None  # follow-up: 1 satisfied, 2 basically satisfied, 3 dissatisfied
    assigned_staff_id: int | None = Field(default=None, foreign_key="staff_user.id")
