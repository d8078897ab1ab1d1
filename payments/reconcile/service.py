"""Storing a day's reconciliation: one run per (channel, bill date), its items replaced on every run.

Our books for a bill date are the local day in Asia/Shanghai (the providers' bills are cut at Beijing
midnight): orders paid that day (paid, needs_refund or refunded — money received) and refunds that
succeeded that day. A run whose bill could not be fetched or read keeps ``error`` and no items (the
latest attempt is what the run shows). Services never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.errors import DomainError
from core.kit.clock import SHANGHAI, to_local
from core.models import (
    MismatchKind,
    PaymentChannel,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    ReconciliationItem,
    ReconciliationRun,
    RefundStatus,
)
from payments.reconcile import repository
from payments.reconcile.compare import Comparison, Mismatch, Totals, book_totals, compare
from payments.reconcile.lines import BillLine

ORDER_STATUS = {
    PaymentOrderStatus.PENDING: "待支付",
    PaymentOrderStatus.PAID: "已支付",
    PaymentOrderStatus.CLOSED: "已关闭",
    PaymentOrderStatus.NEEDS_REFUND: "待退款",
    PaymentOrderStatus.REFUNDED: "已退款",
}
REFUND_STATUS = {
    RefundStatus.REQUESTED: "已申请",
    RefundStatus.PROCESSING: "处理中",
    RefundStatus.SUCCEEDED: "已成功",
    RefundStatus.FAILED: "失败",
}
DETAIL_MAX = 256
ERROR_MAX = 256
TEXT_MAX = 64


def day_window(bill_date: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local day ``bill_date``."""
    start = datetime.combine(bill_date, time.min, tzinfo=SHANGHAI)
    end = datetime.combine(bill_date + timedelta(days=1), time.min, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def is_due(session: Session, *, channel: PaymentChannel, bill_date: date) -> bool:
    """Not reconciled yet, or the last attempt failed."""
    run = repository.run_for(session, channel=channel, bill_date=bill_date)
    return run is None or bool(run.error)


def reconcile(
    session: Session,
    *,
    channel: PaymentChannel,
    bill_date: date,
    bill_lines: Iterable[BillLine],
    now: datetime,
) -> ReconciliationRun:
    """Compare the bill with the day's books and store the run with one item per mismatch."""
    run = _claim_run(session, channel=channel, bill_date=bill_date, now=now)  # concurrent runs queue here
    assert run.id is not None
    start, end = day_window(bill_date)
    comparison = compare(
        bill_lines,
        repository.book_payments(session, channel=channel, start=start, end=end),
        repository.book_refunds(session, channel=channel, start=start, end=end),
    )
    repository.delete_items(session, run.id)
    for mismatch in _explained(session, comparison, bill_date):
        session.add(_item(run.id, mismatch))
    _fill(run, bill=comparison.bill, books=comparison.books, mismatches=len(comparison.mismatches), now=now)
    session.add(run)
    session.flush()
    return run


def record_failure(
    session: Session, *, channel: PaymentChannel, bill_date: date, error: DomainError, now: datetime
) -> ReconciliationRun:
    """The bill could not be fetched or read: the run keeps the error, the day's own totals and no items."""
    run = _claim_run(session, channel=channel, bill_date=bill_date, now=now)
    assert run.id is not None
    start, end = day_window(bill_date)
    books = book_totals(
        repository.book_payments(session, channel=channel, start=start, end=end),
        repository.book_refunds(session, channel=channel, start=start, end=end),
    )
    repository.delete_items(session, run.id)
    _fill(run, bill=Totals(), books=books, mismatches=0, now=now)
    run.error = f"{error.code}: {error.message}"[:ERROR_MAX]
    session.add(run)
    session.flush()
    return run


def _claim_run(
    session: Session, *, channel: PaymentChannel, bill_date: date, now: datetime
) -> ReconciliationRun:
    """The day's run, locked; created when missing (a concurrent creator wins, and we take its row)."""
    run = repository.lock_run(session, channel=channel, bill_date=bill_date)
    if run is not None:
        return run
    try:
        with session.begin_nested():
            run = ReconciliationRun(channel=channel, bill_date=bill_date, ran_at=now)
            session.add(run)
            session.flush()
        return run
    except IntegrityError:
        existing = repository.lock_run(session, channel=channel, bill_date=bill_date)
        if existing is None:
            raise
        return existing


def _fill(run: ReconciliationRun, *, bill: Totals, books: Totals, mismatches: int, now: datetime) -> None:
    run.bill_count, run.bill_total_fen = bill.count, bill.net_fen
    run.local_count, run.local_total_fen = books.count, books.net_fen
    run.mismatch_count = mismatches
    run.error = ""
    run.ran_at = now


def _item(run_id: int, mismatch: Mismatch) -> ReconciliationItem:
    return ReconciliationItem(
        run_id=run_id,
        kind=mismatch.kind,
        out_trade_no=mismatch.out_trade_no[:TEXT_MAX],
        provider_txn_id=mismatch.provider_txn_id[:TEXT_MAX],
        local_fen=mismatch.local_fen,
        bill_fen=mismatch.bill_fen,
        detail=mismatch.detail[:DETAIL_MAX],
    )


def _explained(session: Session, comparison: Comparison, bill_date: date) -> list[Mismatch]:
    """The mismatches, with what our books say of a bill payment or refund the day's books lack."""
    mismatches = comparison.mismatches
    orders = repository.orders_by_out_trade_no(
        session, {m.out_trade_no for m in mismatches if _unbooked_payment(m)}
    )
    refunds = repository.refunds_by_out_refund_no(
        session, {m.out_refund_no for m in mismatches if _unbooked_refund(m) and m.out_refund_no}
    )
    explained: list[Mismatch] = []
    for mismatch in mismatches:
        note = ""
        if _unbooked_payment(mismatch):
            note = _order_note(orders.get(mismatch.out_trade_no), bill_date)
        elif _unbooked_refund(mismatch):
            note = _refund_note(refunds.get(mismatch.out_refund_no), bill_date)
        explained.append(replace(mismatch, detail=f"{mismatch.detail}；{note}") if note else mismatch)
    return explained


def _unbooked_payment(mismatch: Mismatch) -> bool:
    return mismatch.kind is MismatchKind.MISSING_LOCALLY and mismatch.local_fen is None


def _unbooked_refund(mismatch: Mismatch) -> bool:
    return (
        mismatch.kind is MismatchKind.REFUND and mismatch.local_fen is None and mismatch.bill_fen is not None
    )


def _order_note(order: PaymentOrder | None, bill_date: date) -> str:
    if order is None:
        return "本地无此订单"
    if order.paid_at is not None and to_local(order.paid_at).date() != bill_date:
        return f"本地订单{ORDER_STATUS[order.status]}，支付时间为 {to_local(order.paid_at):%Y-%m-%d %H:%M}"
    return f"本地订单{ORDER_STATUS[order.status]}"


def _refund_note(refund: PaymentRefund | None, bill_date: date) -> str:
    if refund is None:
        return "本地无此退款"
    if refund.finished_at is not None and to_local(refund.finished_at).date() != bill_date:
        finished = to_local(refund.finished_at)
        return f"本地退款{REFUND_STATUS[refund.status]}，完成时间为 {finished:%Y-%m-%d %H:%M}"
    return f"本地退款{REFUND_STATUS[refund.status]}"
