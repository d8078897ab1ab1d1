"""Every query of the reconciliation."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlmodel import Session, col, delete, select

from core.models import (
    PaymentChannel,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    ReconciliationItem,
    ReconciliationRun,
    RefundStatus,
)
from payments.reconcile.compare import BookPayment, BookRefund

# Orders that received money: what the provider's bill lists as payments.
RECEIVED = (PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND, PaymentOrderStatus.REFUNDED)


def book_payments(
    session: Session, *, channel: PaymentChannel, start: datetime, end: datetime
) -> list[BookPayment]:
    """Orders of the channel that received money in [start, end)."""
    orders = session.exec(
        select(PaymentOrder).where(
            col(PaymentOrder.channel) == channel,
            col(PaymentOrder.status).in_(RECEIVED),
            col(PaymentOrder.paid_at) >= start,
            col(PaymentOrder.paid_at) < end,
        )
    ).all()
    return [
        BookPayment(
            order.out_trade_no,
            order.provider_txn_id or "",
            order.paid_amount_fen if order.paid_amount_fen is not None else order.amount_fen,
        )
        for order in orders
    ]


def book_refunds(
    session: Session, *, channel: PaymentChannel, start: datetime, end: datetime
) -> list[BookRefund]:
    """Refunds of the channel's orders that succeeded in [start, end)."""
    rows = session.exec(
        select(PaymentRefund, PaymentOrder)
        .join(PaymentOrder, col(PaymentOrder.id) == col(PaymentRefund.order_id))
        .where(
            col(PaymentOrder.channel) == channel,
            col(PaymentRefund.status) == RefundStatus.SUCCEEDED,
            col(PaymentRefund.finished_at) >= start,
            col(PaymentRefund.finished_at) < end,
        )
    ).all()
    return [
        BookRefund(refund.out_refund_no, order.out_trade_no, order.provider_txn_id or "", refund.amount_fen)
        for refund, order in rows
    ]


def orders_by_out_trade_no(session: Session, numbers: Collection[str]) -> dict[str, PaymentOrder]:
    if not numbers:
        return {}
    orders = session.exec(select(PaymentOrder).where(col(PaymentOrder.out_trade_no).in_(list(numbers)))).all()
    return {order.out_trade_no: order for order in orders}


def refunds_by_out_refund_no(session: Session, numbers: Collection[str]) -> dict[str, PaymentRefund]:
    if not numbers:
        return {}
    refunds = session.exec(
        select(PaymentRefund).where(col(PaymentRefund.out_refund_no).in_(list(numbers)))
    ).all()
    return {refund.out_refund_no: refund for refund in refunds}


def run_for(session: Session, *, channel: PaymentChannel, bill_date: date) -> ReconciliationRun | None:
    return session.exec(
        select(ReconciliationRun).where(
            col(ReconciliationRun.channel) == channel, col(ReconciliationRun.bill_date) == bill_date
        )
    ).first()


def lock_run(session: Session, *, channel: PaymentChannel, bill_date: date) -> ReconciliationRun | None:
    """The run of the day, locked until the transaction ends (PostgreSQL; SQLite serialises writers)."""
    return session.exec(
        select(ReconciliationRun)
        .where(col(ReconciliationRun.channel) == channel, col(ReconciliationRun.bill_date) == bill_date)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def delete_items(session: Session, run_id: int) -> None:
    session.execute(delete(ReconciliationItem).where(col(ReconciliationItem.run_id) == run_id))


def items_of(session: Session, run_id: int) -> list[ReconciliationItem]:
    return list(
        session.exec(
            select(ReconciliationItem)
            .where(col(ReconciliationItem.run_id) == run_id)
            .order_by(col(ReconciliationItem.id))
        ).all()
    )
