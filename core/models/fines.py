"""Administrative penalty decisions (行政处罚决定书) imported from the enforcement system, and the
public lookups of them (counted per client address for the rate limit).

Money is integer fen. Only a masked identity number is ever stored (``3601**********1234``).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.kit.sqltypes import StrEnumType
from core.models.base import Timestamped, created_at_field

# 《行政处罚法》第六十七条: pay within 15 days of being served the decision.
PAYMENT_DAYS = 15


class FineStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    CANCELLED = "cancelled"
    DEFERRED = "deferred"  # an approved deferral (暂缓缴纳) or instalment plan (分期缴纳)


class PenaltyDecision(Timestamped, table=True):
    __tablename__ = "penalty_decision"
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("due_on >= served_on", name="due_after_served"),
    )

    id: int | None = Field(default=None, primary_key=True)
    decision_no: str = Field(max_length=64, unique=True, index=True)  # 决定书编号
    party_name: str = Field(max_length=128)  # 当事人
    party_id_masked: str = Field(default="", max_length=32)  # e.g. 3601**********1234, never the full number
    phone: str = Field(default="", max_length=20)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    amount_fen: int = Field(sa_type=sa.BigInteger)
    decided_on: date
    served_on: date  # 送达日期
    due_on: date  # served_on + PAYMENT_DAYS unless the decision says otherwise
    status: FineStatus = Field(default=FineStatus.UNPAID, sa_type=StrEnumType(FineStatus, 16))
    # An approved deferral stops the late fee for the days it covers (from deferral_from, or from the
    # first overdue day when not given, through deferral_until).
    deferral_from: date | None = None
    deferral_until: date | None = None
    instalment_note: str = Field(default="", max_length=256)


class FineLookup(SQLModel, table=True):
    """One public lookup, kept only to count lookups per client address (what was asked is not stored)."""

    __tablename__ = "fine_lookup"
    __table_args__ = (sa.Index("ix_fine_lookup_client_ip_created_at", "client_ip", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    client_ip: str = Field(max_length=64)
    created_at: datetime = created_at_field()
