"""Every query of receipts and the payment history."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.models import PaymentOrder, PenaltyDecision


def order_with_decision(
    session: Session, *, out_trade_no: str | None = None, order_id: int | None = None
) -> tuple[PaymentOrder, PenaltyDecision] | None:
    query = select(PaymentOrder, PenaltyDecision).join(
        PenaltyDecision, col(PenaltyDecision.id) == col(PaymentOrder.decision_id)
    )
    if out_trade_no is not None:
        query = query.where(col(PaymentOrder.out_trade_no) == out_trade_no)
    elif order_id is not None:
        query = query.where(col(PaymentOrder.id) == order_id)
    else:
        raise ValueError("give out_trade_no or order_id")
    row = session.exec(query).first()
    return (row[0], row[1]) if row is not None else None


def orders_of_citizen(
    session: Session, citizen_id: int, *, limit: int, offset: int
) -> tuple[list[tuple[PaymentOrder, str]], int]:
    """The citizen's orders with their decision numbers, newest first, and how many there are."""
    total = session.exec(
        select(func.count()).select_from(PaymentOrder).where(col(PaymentOrder.citizen_id) == citizen_id)
    ).one()
    rows = session.exec(
        select(PaymentOrder, PenaltyDecision.decision_no)
        .join(PenaltyDecision, col(PenaltyDecision.id) == col(PaymentOrder.decision_id))
        .where(col(PaymentOrder.citizen_id) == citizen_id)
        .order_by(col(PaymentOrder.created_at).desc(), col(PaymentOrder.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(order, decision_no) for order, decision_no in rows], int(total)
