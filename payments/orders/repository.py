"""Every query of payment orders and provider notifications, including the row locks of settlement."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.models import (
    PaymentChannel,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
)


def decision_by_id(session: Session, decision_id: int) -> PenaltyDecision | None:
    return session.get(PenaltyDecision, decision_id)


def decision_by_no(session: Session, decision_no: str) -> PenaltyDecision | None:
    return session.exec(
        select(PenaltyDecision).where(col(PenaltyDecision.decision_no) == decision_no)
    ).first()


def lock_decision_by_no(session: Session, decision_no: str) -> PenaltyDecision | None:
    """The decision, locked until the transaction ends (PostgreSQL; SQLite serialises writers) and read
    afresh. Every path that pays or creates orders for a decision locks it first, then order rows."""
    return session.exec(
        select(PenaltyDecision)
        .where(col(PenaltyDecision.decision_no) == decision_no)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def by_out_trade_no(session: Session, out_trade_no: str) -> PaymentOrder | None:
    return session.exec(select(PaymentOrder).where(col(PaymentOrder.out_trade_no) == out_trade_no)).first()


def by_idempotency_key(session: Session, key: str) -> PaymentOrder | None:
    """The newest order created with this key (``ix_payment_order_idempotency_key``)."""
    return session.exec(
        select(PaymentOrder)
        .where(col(PaymentOrder.idempotency_key) == key)
        .order_by(col(PaymentOrder.id).desc())
        .limit(1)
    ).first()


def open_order(session: Session, *, decision_id: int, channel: PaymentChannel) -> PaymentOrder | None:
    """The pending order of a decision and channel (at most one: ``uq_payment_order_open``)."""
    return session.exec(
        select(PaymentOrder).where(
            col(PaymentOrder.decision_id) == decision_id,
            col(PaymentOrder.channel) == channel,
            col(PaymentOrder.status) == PaymentOrderStatus.PENDING,
        )
    ).first()


OPEN_ORDER_INDEX = "uq_payment_order_open"
# SQLite names the columns of a violated unique index, not the index.
OPEN_ORDER_COLUMNS_SQLITE = "payment_order.decision_id, payment_order.channel"


def is_open_order_conflict(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a violation of ``uq_payment_order_open`` (a second open order of a decision and
    channel) and not of any other constraint."""
    diag = getattr(exc.orig, "diag", None)  # psycopg
    if diag is not None:
        return getattr(diag, "constraint_name", None) == OPEN_ORDER_INDEX
    message = str(exc.orig)
    return "UNIQUE constraint failed" in message and message.rstrip().endswith(OPEN_ORDER_COLUMNS_SQLITE)


def add_order(session: Session, order: PaymentOrder) -> PaymentOrder:
    session.add(order)
    session.flush()
    return order


def add_notification(session: Session, notification: PaymentNotification) -> PaymentNotification:
    session.add(notification)
    session.flush()
    return notification


def lock_decision(session: Session, decision_id: int) -> PenaltyDecision:
    """The decision row, locked and read afresh (locking it again in one transaction is a no-op)."""
    return session.exec(
        select(PenaltyDecision)
        .where(col(PenaltyDecision.id) == decision_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def lock_order(session: Session, out_trade_no: str) -> PaymentOrder | None:
    """The order, locked after its decision: the decision id is read unlocked (it never changes), the
    decision row is locked, then the order row; both read afresh, never a stale copy in the session."""
    decision_id = session.exec(
        select(PaymentOrder.decision_id).where(col(PaymentOrder.out_trade_no) == out_trade_no)
    ).first()
    if decision_id is None:
        return None
    lock_decision(session, decision_id)
    query = (
        select(PaymentOrder)
        .where(col(PaymentOrder.out_trade_no) == out_trade_no)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def pending_siblings(session: Session, order: PaymentOrder) -> list[PaymentOrder]:
    """The decision's other pending orders."""
    return list(
        session.exec(
            select(PaymentOrder).where(
                col(PaymentOrder.decision_id) == order.decision_id,
                col(PaymentOrder.status) == PaymentOrderStatus.PENDING,
                col(PaymentOrder.id) != order.id,
            )
        ).all()
    )
