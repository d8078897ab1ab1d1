"""The console side of payments: orders and their filters, the refund queue, notifications that were
refused or flagged (and marking them reviewed), refunds, and reconciliation runs with their items.

Queries only, plus ``mark_reviewed``; refunds are requested through ``payments.refunds.service``.
Services never commit. Labels are the Chinese words the console shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from core.errors import NotFound
from core.kit.text import INT32_MAX
from core.models import (
    MismatchKind,
    NotificationVerdict,
    PaymentChannel,
    PaymentClient,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    PenaltyDecision,
    ReconciliationItem,
    ReconciliationRun,
    RefundStatus,
)

ORDER_STATUS_LABELS: dict[PaymentOrderStatus, str] = {
    PaymentOrderStatus.PENDING: "待支付",
    PaymentOrderStatus.PAID: "已支付",
    PaymentOrderStatus.CLOSED: "已关闭",
    PaymentOrderStatus.NEEDS_REFUND: "待退款",
    PaymentOrderStatus.REFUNDED: "已退款",
}
CHANNEL_LABELS: dict[PaymentChannel, str] = {
    PaymentChannel.WECHAT: "微信支付",
    PaymentChannel.ALIPAY: "支付宝",
}
CLIENT_LABELS: dict[PaymentClient, str] = {PaymentClient.MINIPROGRAM: "小程序", PaymentClient.H5: "手机网页"}
REFUND_STATUS_LABELS: dict[RefundStatus, str] = {
    RefundStatus.REQUESTED: "已申请",
    RefundStatus.PROCESSING: "退款中",
    RefundStatus.SUCCEEDED: "退款成功",
    RefundStatus.FAILED: "退款失败",
}
VERDICT_LABELS: dict[NotificationVerdict, str] = {
    NotificationVerdict.APPLIED: "已入账",
    NotificationVerdict.IGNORED: "已忽略",
    NotificationVerdict.REFUSED: "已拒绝",
}
MISMATCH_LABELS: dict[MismatchKind, str] = {
    MismatchKind.MISSING_LOCALLY: "本地无此笔支付",
    MismatchKind.MISSING_AT_PROVIDER: "渠道账单中没有",
    MismatchKind.AMOUNT: "金额不一致",
    MismatchKind.REFUND: "退款不一致",
}
REFUNDABLE = (PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND)


class OrderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("payment_not_found", "未找到该支付订单")


class NotificationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("payment_notification_not_found", "未找到该支付通知")


class RunNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("reconciliation_run_not_found", "未找到该对账记录")


def _valid_id(value: int) -> bool:
    """Ids come from typed URLs; PostgreSQL refuses an integer beyond its column type."""
    return 0 < value <= INT32_MAX


def _count(session: Session, stmt: Select[*tuple[Any, ...]] | SelectOfScalar[Any]) -> int:
    subquery = stmt.order_by(None).subquery()
    return int(session.execute(sa.select(sa.func.count()).select_from(subquery)).scalar_one())


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class OrderFilter:
    status: PaymentOrderStatus | None = None
    channel: PaymentChannel | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    text: str = ""  # out_trade_no, provider transaction id, receipt number or decision number (part of)


@dataclass(frozen=True)
class OrderRow:
    order: PaymentOrder
    decision_no: str
    party_name: str


def _orders(where: OrderFilter) -> Select[PaymentOrder, str, str]:
    stmt = select(PaymentOrder, col(PenaltyDecision.decision_no), col(PenaltyDecision.party_name)).join(
        PenaltyDecision, col(PenaltyDecision.id) == col(PaymentOrder.decision_id)
    )
    if where.status is not None:
        stmt = stmt.where(col(PaymentOrder.status) == where.status)
    if where.channel is not None:
        stmt = stmt.where(col(PaymentOrder.channel) == where.channel)
    if where.since is not None:
        stmt = stmt.where(col(PaymentOrder.created_at) >= where.since)
    if where.until is not None:
        stmt = stmt.where(col(PaymentOrder.created_at) < where.until)
    if where.text:
        stmt = stmt.where(
            sa.or_(
                col(PaymentOrder.out_trade_no) == where.text,
                col(PaymentOrder.provider_txn_id) == where.text,
                col(PaymentOrder.receipt_no) == where.text,
                col(PenaltyDecision.decision_no).contains(where.text, autoescape=True),
            )
        )
    return stmt


def search_orders(
    session: Session, where: OrderFilter, *, offset: int = 0, limit: int = 50
) -> list[OrderRow]:
    """Newest order first."""
    stmt = _orders(where).order_by(col(PaymentOrder.created_at).desc(), col(PaymentOrder.id).desc())
    rows = session.exec(stmt.offset(offset).limit(limit)).all()
    return [OrderRow(order, decision_no, party_name) for order, decision_no, party_name in rows]


def count_orders(session: Session, where: OrderFilter) -> int:
    return _count(session, _orders(where))


def iterate_orders(session: Session, where: OrderFilter, *, batch: int = 1000) -> Iterator[OrderRow]:
    offset = 0
    while True:
        rows = search_orders(session, where, offset=offset, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        offset += batch


@dataclass(frozen=True)
class OrderDetail:
    order: PaymentOrder
    decision: PenaltyDecision
    refund: PaymentRefund | None
    notifications: list[PaymentNotification]

    @property
    def refundable(self) -> bool:
        return self.refund is None and self.order.status in REFUNDABLE and bool(self.order.paid_amount_fen)


def order_detail(session: Session, order_id: int) -> OrderDetail:
    order = session.get(PaymentOrder, order_id) if _valid_id(order_id) else None
    if order is None:
        raise OrderNotFound()
    decision = session.get(PenaltyDecision, order.decision_id)
    assert decision is not None  # a foreign key
    refund = session.exec(select(PaymentRefund).where(col(PaymentRefund.order_id) == order.id)).first()
    notifications = list(
        session.exec(
            select(PaymentNotification)
            .where(col(PaymentNotification.out_trade_no) == order.out_trade_no)
            .order_by(col(PaymentNotification.id).desc())
            .limit(50)
        ).all()
    )
    return OrderDetail(order, decision, refund, notifications)


@dataclass(frozen=True)
class RefundQueueRow:
    order: PaymentOrder
    decision_no: str
    refund: PaymentRefund | None


def needs_refund(session: Session, *, limit: int = 500) -> list[RefundQueueRow]:
    """Money received that could not be applied, oldest first, with its refund if one was requested."""
    stmt = (
        select(PaymentOrder, col(PenaltyDecision.decision_no), PaymentRefund)
        .join(PenaltyDecision, col(PenaltyDecision.id) == col(PaymentOrder.decision_id))
        .outerjoin(PaymentRefund, col(PaymentRefund.order_id) == col(PaymentOrder.id))
        .where(col(PaymentOrder.status) == PaymentOrderStatus.NEEDS_REFUND)
        .order_by(col(PaymentOrder.paid_at).asc(), col(PaymentOrder.id).asc())
        .limit(limit)
    )
    return [
        RefundQueueRow(order, decision_no, refund)
        for order, decision_no, refund in session.execute(stmt).all()
    ]


def count_needs_refund(session: Session) -> int:
    stmt = select(col(PaymentOrder.id)).where(col(PaymentOrder.status) == PaymentOrderStatus.NEEDS_REFUND)
    return _count(session, stmt)


# --------------------------------------------------------------------------- notifications


def _flagged(*, reviewed: bool) -> SelectOfScalar[PaymentNotification]:
    stmt = select(PaymentNotification).where(
        sa.or_(
            col(PaymentNotification.verdict) == NotificationVerdict.REFUSED,
            col(PaymentNotification.flagged).is_(True),
        )
    )
    if reviewed:
        return stmt.where(col(PaymentNotification.reviewed_at).is_not(None))
    return stmt.where(col(PaymentNotification.reviewed_at).is_(None))


def flagged_notifications(
    session: Session, *, reviewed: bool = False, offset: int = 0, limit: int = 50
) -> list[PaymentNotification]:
    """Refused or flagged notifications, newest first: the ones still to review, or the reviewed ones."""
    stmt = (
        _flagged(reviewed=reviewed).order_by(col(PaymentNotification.id).desc()).offset(offset).limit(limit)
    )
    return list(session.exec(stmt).all())


def count_flagged(session: Session, *, reviewed: bool = False) -> int:
    return _count(session, _flagged(reviewed=reviewed))


def mark_reviewed(
    session: Session, *, notification_id: int, staff_id: int, now: datetime
) -> tuple[PaymentNotification, bool]:
    """Marks a notification reviewed; ``False`` when it was reviewed already (kept as it was)."""
    notification = (
        session.exec(
            select(PaymentNotification)
            .where(col(PaymentNotification.id) == notification_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if _valid_id(notification_id)
        else None
    )
    if notification is None:
        raise NotificationNotFound()
    if notification.reviewed_at is not None:
        return notification, False
    notification.reviewed_by = staff_id
    notification.reviewed_at = now
    session.add(notification)
    session.flush()
    return notification, True


# --------------------------------------------------------------------------- refunds


@dataclass(frozen=True)
class RefundRow:
    refund: PaymentRefund
    order: PaymentOrder
    decision_no: str


def _refunds(status: RefundStatus | None) -> Select[PaymentRefund, PaymentOrder, str]:
    stmt = (
        select(PaymentRefund, PaymentOrder, col(PenaltyDecision.decision_no))
        .join(PaymentOrder, col(PaymentOrder.id) == col(PaymentRefund.order_id))
        .join(PenaltyDecision, col(PenaltyDecision.id) == col(PaymentOrder.decision_id))
    )
    if status is not None:
        stmt = stmt.where(col(PaymentRefund.status) == status)
    return stmt


def search_refunds(
    session: Session, *, status: RefundStatus | None = None, offset: int = 0, limit: int = 50
) -> list[RefundRow]:
    stmt = _refunds(status).order_by(col(PaymentRefund.id).desc()).offset(offset).limit(limit)
    return [
        RefundRow(refund, order, decision_no) for refund, order, decision_no in session.execute(stmt).all()
    ]


def count_refunds(session: Session, *, status: RefundStatus | None = None) -> int:
    return _count(session, _refunds(status))


# --------------------------------------------------------------------------- reconciliation


def _runs(channel: PaymentChannel | None) -> SelectOfScalar[ReconciliationRun]:
    stmt = select(ReconciliationRun)
    if channel is not None:
        stmt = stmt.where(col(ReconciliationRun.channel) == channel)
    return stmt


def reconciliation_runs(
    session: Session, *, channel: PaymentChannel | None = None, offset: int = 0, limit: int = 50
) -> list[ReconciliationRun]:
    """Newest bill day first."""
    stmt = (
        _runs(channel)
        .order_by(col(ReconciliationRun.bill_date).desc(), col(ReconciliationRun.channel))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def count_runs(session: Session, *, channel: PaymentChannel | None = None) -> int:
    return _count(session, _runs(channel))


def reconciliation_run(session: Session, run_id: int) -> tuple[ReconciliationRun, list[ReconciliationItem]]:
    run = session.get(ReconciliationRun, run_id) if _valid_id(run_id) else None
    if run is None:
        raise RunNotFound()
    items = list(
        session.exec(
            select(ReconciliationItem)
            .where(col(ReconciliationItem.run_id) == run_id)
            .order_by(col(ReconciliationItem.kind), col(ReconciliationItem.id))
        ).all()
    )
    return run, items
