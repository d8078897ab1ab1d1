"""Every query of the refund flow."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from core.models import PaymentNotification, PaymentOrder, PaymentRefund, RefundStatus


def lock_order(session: Session, order_id: int) -> PaymentOrder | None:
    query = (
        select(PaymentOrder)
        .where(col(PaymentOrder.id) == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def refund_of_order(session: Session, order_id: int) -> PaymentRefund | None:
    return session.exec(select(PaymentRefund).where(col(PaymentRefund.order_id) == order_id)).first()


def get_refund(session: Session, refund_id: int) -> PaymentRefund | None:
    return session.get(PaymentRefund, refund_id)


def lock_refund(session: Session, refund_id: int) -> PaymentRefund | None:
    query = (
        select(PaymentRefund)
        .where(col(PaymentRefund.id) == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def lock_refund_by_no(session: Session, out_refund_no: str) -> PaymentRefund | None:
    query = (
        select(PaymentRefund)
        .where(col(PaymentRefund.out_refund_no) == out_refund_no)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def lock_refund_of_trade(session: Session, out_trade_no: str) -> PaymentRefund | None:
    """The refund of the order ``out_trade_no`` (one refund per payment), locked."""
    query = (
        select(PaymentRefund)
        .join(PaymentOrder, col(PaymentOrder.id) == col(PaymentRefund.order_id))
        .where(col(PaymentOrder.out_trade_no) == out_trade_no)
        .with_for_update(of=PaymentRefund)
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def get_order(session: Session, order_id: int) -> PaymentOrder | None:
    return session.get(PaymentOrder, order_id)


def unfinished_ids(
    session: Session, *, processing_before: datetime, requested_before: datetime, limit: int
) -> Sequence[int]:
    """Refunds the provider has not finished: PROCESSING since before ``processing_before``, or still
    REQUESTED (their job was lost or gave up) since before ``requested_before``; oldest first."""
    query = (
        select(PaymentRefund.id)
        .where(
            (
                (col(PaymentRefund.status) == RefundStatus.PROCESSING)
                & (col(PaymentRefund.updated_at) < processing_before)
            )
            | (
                (col(PaymentRefund.status) == RefundStatus.REQUESTED)
                & (col(PaymentRefund.updated_at) < requested_before)
            )
        )
        .order_by(col(PaymentRefund.updated_at), col(PaymentRefund.id))
        .limit(limit)
    )
    return [refund_id for refund_id in session.exec(query).all() if refund_id is not None]


def notification_seen(session: Session, dedupe_key: str) -> bool:
    query = select(PaymentNotification.id).where(col(PaymentNotification.dedupe_key) == dedupe_key)
    return session.exec(query).first() is not None
