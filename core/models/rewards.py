"""Reward points: an append-only ledger, a catalogue, and redemptions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.models.base import Timestamped, created_at_field


class RewardReason(StrEnum):
    REPORT_REGISTERED = "report_registered"
    FIRST_REPORT_BONUS = "first_report_bonus"
    REGISTRATION_VOIDED = "registration_voided"
    REDEMPTION = "redemption"
    REDEMPTION_REFUNDED = "redemption_refunded"


class RewardEntry(SQLModel, table=True):
    """One line of a citizen's ledger; never updated or deleted. Awards are unique per (citizen,
    reason, case) so a retried registration cannot pay twice."""

    __tablename__ = "reward_entry"
    __table_args__ = (
        sa.UniqueConstraint("citizen_id", "reason", "case_id", name="uq_reward_entry_citizen_reason_case"),
        sa.UniqueConstraint("reason", "redemption_id", name="uq_reward_entry_reason_redemption"),
    )

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    points: int
    reason: RewardReason = Field(sa_type=StrEnumType(RewardReason, 32))
    case_id: int | None = Field(default=None, foreign_key="case.id")
    redemption_id: int | None = Field(default=None, foreign_key="redemption.id")
    note: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class RewardItemKind(StrEnum):
    PHONE_CREDIT = "phone_credit"
    COUPON = "coupon"


class RewardItem(Timestamped, table=True):
    __tablename__ = "reward_item"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=64)
    kind: RewardItemKind = Field(sa_type=StrEnumType(RewardItemKind, 16))
    points_cost: int
    stock: int
    active: bool = True


class RedemptionStatus(StrEnum):
    PENDING = "pending"  # points deducted, waiting for staff to hand it out
    FULFILLED = "fulfilled"
    REFUNDED = "refunded"


class Redemption(Timestamped, table=True):
    __tablename__ = "redemption"
    __table_args__ = (
        sa.UniqueConstraint("citizen_id", "idempotency_key", name="uq_redemption_citizen_idempotency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    item_id: int = Field(foreign_key="reward_item.id")
    points: int
    status: RedemptionStatus = Field(
        default=RedemptionStatus.PENDING, sa_type=StrEnumType(RedemptionStatus, 16), index=True
    )
    idempotency_key: str = Field(max_length=64)
    decided_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
