"""Every query of payment orders and provider notifications (``settle.py`` keeps its own locks)."""

from __future__ import annotations

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


def by_out_trade_no(session: Session, out_trade_no: str) -> PaymentOrder | None:
    return session.exec(select(PaymentOrder).where(col(PaymentOrder.out_trade_no) == out_trade_no)).first()


def by_idempotency_key(session: Session, key: str) -> PaymentOrder | None:
    """The newest order created with this key (keys are the client's, unique per attempt)."""
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


def add_order(session: Session, order: PaymentOrder) -> PaymentOrder:
    session.add(order)
    session.flush()
    return order


def add_notification(session: Session, notification: PaymentNotification) -> PaymentNotification:
    session.add(notification)
    session.flush()
    return notification
