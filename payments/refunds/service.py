"""Requesting a refund (the console's action); the job ``payments.refund`` sends it.

One refund per payment, always of the full amount received. Asking again for the same order answers
the existing refund (a double click never refunds twice). The decision's status is left to staff
(cancelling a revoked decision is a separate console action).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from core.jobs import enqueue
from core.kit.clock import to_local
from core.models import PaymentOrder, PaymentOrderStatus, PaymentRefund
from payments.refunds.errors import NotRefundable, OrderNotFound

REFUNDABLE = (PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND)


def new_out_refund_no(now: datetime) -> str:
    return f"RF{to_local(now):%Y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


def request_refund(
    session: Session, *, order_id: int, reason: str, staff_id: int | None, now: datetime
) -> PaymentRefund:
    order = session.exec(
        select(PaymentOrder).where(col(PaymentOrder.id) == order_id).with_for_update()
    ).first()
    if order is None:
        raise OrderNotFound()
    existing = session.exec(select(PaymentRefund).where(col(PaymentRefund.order_id) == order_id)).first()
    if existing is not None:
        return existing
    if order.status not in REFUNDABLE or not order.paid_amount_fen:
        raise NotRefundable(order.status.value)
    refund = PaymentRefund(
        out_refund_no=new_out_refund_no(now),
        order_id=order_id,
        amount_fen=order.paid_amount_fen,
        reason=reason.strip()[:256],
        requested_by=staff_id,
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    session.flush()
    enqueue(session, "payments.refund", refund_id=refund.id)
    return refund
