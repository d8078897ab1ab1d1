"""Online payment of fines: orders at WeChat Pay / Alipay, the providers' notifications as received,
refunds, and the daily reconciliation against each provider's bill.

Money is integer fen. The database itself refuses a second applied payment of one decision
(``uq_payment_order_paid_decision``) and a second open order per decision and channel
(``uq_payment_order_open``), so no race in the application can double a fen.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.models.base import Timestamped, created_at_field


class PaymentChannel(StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"


class PaymentClient(StrEnum):
    """What the payer pays from: the WeChat mini-program (JSAPI), the Alipay mini-program
    (``my.tradePay`` with a tradeNO) or a mobile browser (Alipay wap pay URL)."""

    MINIPROGRAM = "miniprogram"
    H5 = "h5"


class PaymentOrderStatus(StrEnum):
    PENDING = "pending"  # created at the provider, waiting for the payer
    PAID = "paid"  # money received and applied to the decision
    CLOSED = "closed"  # expired or superseded; closed at the provider, nothing received
    # Money received that cannot be applied (the order had expired and the fine was paid another way,
    # or the decision was cancelled): a refund is flagged for staff.
    NEEDS_REFUND = "needs_refund"
    REFUNDED = "refunded"  # money received and fully returned


OPEN_ORDER = "status = 'pending'"
APPLIED_ORDER = "status = 'paid'"


class PaymentOrder(Timestamped, table=True):
    """One attempt to pay one decision through one channel; the amount is frozen at creation."""

    __tablename__ = "payment_order"
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("amount_fen = fine_fen + late_fee_fen", name="amount_adds_up"),
        sa.Index(
            "uq_payment_order_open",
            "decision_id",
            "channel",
            unique=True,
            sqlite_where=sa.text(OPEN_ORDER),
            postgresql_where=sa.text(OPEN_ORDER),
        ),
        sa.Index(
            "uq_payment_order_paid_decision",
            "decision_id",
            unique=True,
            sqlite_where=sa.text(APPLIED_ORDER),
            postgresql_where=sa.text(APPLIED_ORDER),
        ),
        sa.Index("ix_payment_order_status_created_at", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    out_trade_no: str = Field(max_length=32, unique=True)  # ours, sent to the provider
    decision_id: int = Field(foreign_key="penalty_decision.id", index=True)
    channel: PaymentChannel = Field(sa_type=StrEnumType(PaymentChannel, 16))
    client: PaymentClient = Field(sa_type=StrEnumType(PaymentClient, 16))
    status: PaymentOrderStatus = Field(
        default=PaymentOrderStatus.PENDING, sa_type=StrEnumType(PaymentOrderStatus, 16)
    )
    amount_fen: int = Field(sa_type=sa.BigInteger)
    fine_fen: int = Field(sa_type=sa.BigInteger)
    late_fee_fen: int = Field(default=0, sa_type=sa.BigInteger)
    citizen_id: int | None = Field(default=None, foreign_key="citizen.id", index=True)
    payer_ref: str = Field(default="", max_length=128)  # openid / Alipay buyer id the order was made for
    prepay_ref: str = Field(default="", max_length=256)  # WeChat prepay_id / Alipay trade_no of creation
    provider_txn_id: str | None = Field(default=None, max_length=64, unique=True)  # transaction_id/trade_no
    expires_at: datetime = Field(sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_amount_fen: int | None = Field(default=None, sa_type=sa.BigInteger)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    receipt_no: str | None = Field(default=None, max_length=32, unique=True)  # set when paid
    idempotency_key: str | None = Field(default=None, max_length=128, index=True)  # scoped per payer


class NotificationVerdict(StrEnum):
    APPLIED = "applied"  # verified and applied (the order became paid, or needs a refund)
    IGNORED = "ignored"  # verified, nothing to do (not a success state, or the order already settled)
    REFUSED = "refused"  # signature, timestamp or content did not check out; flagged for staff


class PaymentNotification(SQLModel, table=True):
    """Every notification as received. ``dedupe_key`` is the provider's notification id for verified
    ones; refused ones keep it NULL so a forged message can never shadow the real one."""

    __tablename__ = "payment_notification"

    id: int | None = Field(default=None, primary_key=True)
    channel: PaymentChannel = Field(sa_type=StrEnumType(PaymentChannel, 16))
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    out_trade_no: str = Field(default="", max_length=64, index=True)
    verdict: NotificationVerdict = Field(sa_type=StrEnumType(NotificationVerdict, 16))
    reason: str = Field(default="", max_length=64)  # a stable code when refused or ignored
    headers: str = Field(default="", sa_type=sa.Text)  # JSON of the signature headers
    body: str = Field(default="", sa_type=sa.Text)  # the raw body (WeChat's resource stays encrypted)
    client_ip: str = Field(default="", max_length=64)
    flagged: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()}, index=True)
    reviewed_by: int | None = Field(default=None, foreign_key="staff_user.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    received_at: datetime = created_at_field()


class RefundStatus(StrEnum):
    REQUESTED = "requested"  # recorded, not yet sent to the provider
    PROCESSING = "processing"  # accepted by the provider
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # refused or abnormal at the provider; staff decide what next


class PaymentRefund(Timestamped, table=True):
    """A refund of one payment in full (a revoked decision, a payment that could not be applied)."""

    __tablename__ = "payment_refund"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    out_refund_no: str = Field(max_length=64, unique=True)
    order_id: int = Field(foreign_key="payment_order.id", unique=True)  # one refund per payment
    amount_fen: int = Field(sa_type=sa.BigInteger)
    reason: str = Field(max_length=256)
    status: RefundStatus = Field(default=RefundStatus.REQUESTED, sa_type=StrEnumType(RefundStatus, 16))
    requested_by: int | None = Field(default=None, foreign_key="staff_user.id")  # None: flagged by the system
    provider_refund_id: str = Field(default="", max_length=64)
    failure: str = Field(default="", max_length=256)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MismatchKind(StrEnum):
    MISSING_LOCALLY = "missing_locally"  # in the bill, not paid in our books
    MISSING_AT_PROVIDER = "missing_at_provider"  # paid in our books, not in the bill
    AMOUNT = "amount"  # both, different amounts
    REFUND = "refund"  # a refund in one and not (or differently) in the other


class ReconciliationRun(SQLModel, table=True):
    """One provider's bill for one day compared with our books (re-running a day replaces its items)."""

    __tablename__ = "reconciliation_run"
    __table_args__ = (sa.UniqueConstraint("channel", "bill_date", name="uq_reconciliation_run_channel_day"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: PaymentChannel = Field(sa_type=StrEnumType(PaymentChannel, 16))
    bill_date: date
    bill_count: int = 0
    bill_total_fen: int = Field(default=0, sa_type=sa.BigInteger)
    local_count: int = 0
    local_total_fen: int = Field(default=0, sa_type=sa.BigInteger)
    mismatch_count: int = 0
    error: str = Field(default="", max_length=256)  # the bill could not be fetched or read
    ran_at: datetime = created_at_field()


class ReconciliationItem(SQLModel, table=True):
    __tablename__ = "reconciliation_item"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="reconciliation_run.id", index=True)
    kind: MismatchKind = Field(sa_type=StrEnumType(MismatchKind, 24))
    out_trade_no: str = Field(max_length=64)
    provider_txn_id: str = Field(default="", max_length=64)
    local_fen: int | None = Field(default=None, sa_type=sa.BigInteger)
    bill_fen: int | None = Field(default=None, sa_type=sa.BigInteger)
    detail: str = Field(default="", max_length=256)
