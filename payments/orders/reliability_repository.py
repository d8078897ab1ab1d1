"""The queries of the reliability jobs: which pending orders to ask their provider about.

A claim stamps ``last_polled_at`` in the caller's transaction, so the next run (or a concurrent one,
which skips rows locked by this claim on PostgreSQL) leaves these orders alone for ``poll_after_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from core.models import PaymentChannel, PaymentOrder, PaymentOrderStatus


@dataclass(frozen=True)
class OrderRef:
    """What the jobs need to know about an order while no transaction is open."""

    order_id: int
    out_trade_no: str
    channel: PaymentChannel
    status: PaymentOrderStatus
    expires_at: datetime


def order_ref(order: PaymentOrder) -> OrderRef:
    assert order.id is not None
    return OrderRef(order.id, order.out_trade_no, order.channel, order.status, order.expires_at)


def _claim(session: Session, conditions: list[Any], *, now: datetime, limit: int) -> list[OrderRef]:
    query = (
        select(PaymentOrder)
        .where(col(PaymentOrder.status) == PaymentOrderStatus.PENDING, *conditions)
        .order_by(col(PaymentOrder.created_at), col(PaymentOrder.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    orders = list(session.exec(query).all())
    for order in orders:
        order.last_polled_at = now
        session.add(order)
    session.flush()
    return [order_ref(order) for order in orders]


def _not_polled_since(cutoff: datetime) -> Any:
    return or_(col(PaymentOrder.last_polled_at).is_(None), col(PaymentOrder.last_polled_at) <= cutoff)


def claim_due(session: Session, *, now: datetime, poll_after_s: int, limit: int) -> list[OrderRef]:
    """Pending orders older than ``poll_after_s`` and not asked about in the last ``poll_after_s``."""
    cutoff = now - timedelta(seconds=poll_after_s)
    conditions = [col(PaymentOrder.created_at) <= cutoff, _not_polled_since(cutoff)]
    return _claim(session, conditions, now=now, limit=limit)


def claim_expired(
    session: Session, *, now: datetime, expired_before: datetime, poll_after_s: int, limit: int
) -> list[OrderRef]:
    """Pending orders that expired at or before ``expired_before`` (the caller leaves a grace period)
    and were not asked about in the last ``poll_after_s``."""
    cutoff = now - timedelta(seconds=poll_after_s)
    conditions = [col(PaymentOrder.expires_at) <= expired_before, _not_polled_since(cutoff)]
    return _claim(session, conditions, now=now, limit=limit)


def find_ref(session: Session, order_id: int) -> OrderRef | None:
    order = session.get(PaymentOrder, order_id)
    return order_ref(order) if order is not None else None
