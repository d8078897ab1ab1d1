"""Storing a day's reconciliation against orders and refunds made with the factories (both backends):
every mismatch kind, the local day's edges, a clean day, re-runs and failures replacing the day's run."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session, col, select

from core.models import (
    MismatchKind,
    PaymentChannel,
    PaymentOrderStatus,
    ReconciliationItem,
    ReconciliationRun,
    RefundStatus,
)
from payments.providers import ProviderError
from payments.reconcile import service
from payments.reconcile.errors import BillUnreadable
from payments.reconcile.lines import BillKind, BillLine
from tests.payments.reconcile.books import Books, local

DAY = date(2026, 11, 20)
NOW = local(DAY + timedelta(days=1), 10, 5)
WECHAT = PaymentChannel.WECHAT


@pytest.fixture
def books(session: Session) -> Books:
    return Books(session)


def paid(no: str, fen: int, txn: str) -> BillLine:
    return BillLine(BillKind.PAYMENT, no, txn, fen)


def items(session: Session, run: ReconciliationRun) -> list[ReconciliationItem]:
    return list(
        session.exec(select(ReconciliationItem).where(col(ReconciliationItem.run_id) == run.id)).all()
    )


def by_kind(session: Session, run: ReconciliationRun) -> dict[tuple[MismatchKind, str], ReconciliationItem]:
    return {(item.kind, item.out_trade_no): item for item in items(session, run)}


def reconcile(session: Session, lines: list[BillLine], channel: PaymentChannel = WECHAT) -> ReconciliationRun:
    return service.reconcile(session, channel=channel, bill_date=DAY, bill_lines=lines, now=NOW)


def test_a_clean_day_stores_a_run_with_totals_and_no_items(session: Session, books: Books) -> None:
    first = books.order(paid_at=local(DAY, 0, 0, 0), amount_fen=20000)
    last = books.order(paid_at=local(DAY, 23, 59, 59), amount_fen=35050)
    lines = [
        paid(first.out_trade_no, 20000, first.provider_txn_id or ""),
        paid(last.out_trade_no, 35050, last.provider_txn_id or ""),
    ]
    run = reconcile(session, lines)
    assert run.id is not None
    assert (run.channel, run.bill_date, run.error) == (WECHAT, DAY, "")
    assert (run.bill_count, run.bill_total_fen) == (2, 55050)
    assert (run.local_count, run.local_total_fen) == (2, 55050)
    assert run.mismatch_count == 0
    assert run.ran_at == NOW
    assert items(session, run) == []


def test_every_mismatch_kind(session: Session, books: Books) -> None:
    ok = books.order(paid_at=local(DAY, 9))
    lost = books.order(paid_at=None)  # paid at the provider, the notification was lost
    unknown = books.number()  # not ours at all
    only_ours = books.order(paid_at=local(DAY, 11), amount_fen=5000)
    other_amount = books.order(paid_at=local(DAY, 12), amount_fen=20000)
    refunded = books.order(paid_at=local(DAY - timedelta(days=3)))
    books.refund(refunded, finished_at=local(DAY, 15))
    refunded_at_provider_only = books.order(paid_at=local(DAY - timedelta(days=2)))
    run = reconcile(
        session,
        [
            paid(ok.out_trade_no, 20000, ok.provider_txn_id or ""),
            paid(lost.out_trade_no, 20000, "4200000000000000000000000001"),
            paid(unknown, 100, "4200000000000000000000000002"),
            paid(other_amount.out_trade_no, 19900, other_amount.provider_txn_id or ""),
            BillLine(
                BillKind.REFUND,
                refunded_at_provider_only.out_trade_no,
                refunded_at_provider_only.provider_txn_id or "",
                20000,
                "RF-NOT-OURS",
            ),
        ],
    )
    found = by_kind(session, run)
    assert set(found) == {
        (MismatchKind.MISSING_LOCALLY, lost.out_trade_no),
        (MismatchKind.MISSING_LOCALLY, unknown),
        (MismatchKind.MISSING_AT_PROVIDER, only_ours.out_trade_no),
        (MismatchKind.AMOUNT, other_amount.out_trade_no),
        (MismatchKind.REFUND, refunded.out_trade_no),
        (MismatchKind.REFUND, refunded_at_provider_only.out_trade_no),
    }
    lost_item = found[(MismatchKind.MISSING_LOCALLY, lost.out_trade_no)]
    assert (lost_item.provider_txn_id, lost_item.bill_fen, lost_item.local_fen) == (
        "4200000000000000000000000001",
        20000,
        None,
    )
    assert lost_item.detail.endswith("本地订单待支付")
    assert found[(MismatchKind.MISSING_LOCALLY, unknown)].detail.endswith("本地无此订单")
    assert found[(MismatchKind.MISSING_AT_PROVIDER, only_ours.out_trade_no)].local_fen == 5000
    amount = found[(MismatchKind.AMOUNT, other_amount.out_trade_no)]
    assert (amount.local_fen, amount.bill_fen) == (20000, 19900)
    ours_only = found[(MismatchKind.REFUND, refunded.out_trade_no)]
    assert (ours_only.local_fen, ours_only.bill_fen) == (20000, None)
    theirs_only = found[(MismatchKind.REFUND, refunded_at_provider_only.out_trade_no)]
    assert (theirs_only.local_fen, theirs_only.bill_fen) == (None, 20000)
    assert theirs_only.detail.endswith("本地无此退款")
    assert run.mismatch_count == 6
    assert (run.bill_count, run.bill_total_fen) == (5, 20000 + 20000 + 100 + 19900 - 20000)
    # ours: ok, only_ours, other_amount paid that day; the refund of `refunded` went out that day
    assert (run.local_count, run.local_total_fen) == (4, 20000 + 5000 + 20000 - 20000)


def test_the_books_are_the_local_day(session: Session, books: Books) -> None:
    before = books.order(paid_at=local(DAY - timedelta(days=1), 23, 59, 59))
    after = books.order(paid_at=local(DAY + timedelta(days=1), 0, 0, 0))
    run = reconcile(session, [paid(after.out_trade_no, 20000, after.provider_txn_id or "")])
    found = by_kind(session, run)
    assert set(found) == {(MismatchKind.MISSING_LOCALLY, after.out_trade_no)}  # `before` is not that day
    assert found[(MismatchKind.MISSING_LOCALLY, after.out_trade_no)].detail.endswith(
        f"本地订单已支付，支付时间为 {DAY + timedelta(days=1)} 00:00"
    )
    assert run.local_count == 0
    assert before.paid_at is not None


def test_money_received_counts_whatever_became_of_the_order(session: Session, books: Books) -> None:
    needs_refund = books.order(paid_at=local(DAY, 8), status=PaymentOrderStatus.NEEDS_REFUND)
    refunded = books.order(paid_at=local(DAY, 9))
    books.refund(refunded, finished_at=local(DAY + timedelta(days=2)))
    books.order(paid_at=None)  # pending: not money received
    books.order(paid_at=local(DAY, 10), channel=PaymentChannel.ALIPAY)  # another channel's bill
    run = reconcile(
        session,
        [
            paid(needs_refund.out_trade_no, 20000, needs_refund.provider_txn_id or ""),
            paid(refunded.out_trade_no, 20000, refunded.provider_txn_id or ""),
        ],
    )
    assert run.mismatch_count == 0
    assert (run.local_count, run.local_total_fen) == (2, 40000)


def test_a_refund_still_processing_in_our_books_is_a_refund_mismatch(session: Session, books: Books) -> None:
    order = books.order(paid_at=local(DAY - timedelta(days=5)))
    refund = books.refund(order, finished_at=None, status=RefundStatus.PROCESSING)
    line = BillLine(
        BillKind.REFUND, order.out_trade_no, order.provider_txn_id or "", 20000, refund.out_refund_no
    )
    run = reconcile(session, [line])
    (item,) = items(session, run)
    assert (item.kind, item.bill_fen, item.local_fen) == (MismatchKind.REFUND, 20000, None)
    assert item.detail.endswith("本地退款处理中")


def test_re_running_a_day_replaces_its_items(session: Session, books: Books) -> None:
    order = books.order(paid_at=local(DAY, 9))
    first = reconcile(session, [])
    assert [item.kind for item in items(session, first)] == [MismatchKind.MISSING_AT_PROVIDER]
    second = reconcile(session, [paid(order.out_trade_no, 20000, order.provider_txn_id or "")])
    assert second.id == first.id
    assert items(session, second) == []
    assert second.mismatch_count == 0
    runs = session.exec(
        select(ReconciliationRun).where(
            col(ReconciliationRun.channel) == WECHAT, col(ReconciliationRun.bill_date) == DAY
        )
    ).all()
    assert len(runs) == 1
    other_channel = reconcile(session, [], channel=PaymentChannel.ALIPAY)
    assert other_channel.id != first.id


def test_a_failure_records_the_error_and_the_books_and_replaces_the_items(
    session: Session, books: Books
) -> None:
    books.order(paid_at=local(DAY, 9), amount_fen=12300)
    first = reconcile(session, [])
    assert first.mismatch_count == 1
    error = ProviderError("provider_unavailable", "微信支付暂时不可用", status=503)
    failed = service.record_failure(session, channel=WECHAT, bill_date=DAY, error=error, now=NOW)
    assert failed.id == first.id
    assert failed.error == "provider_unavailable: 微信支付暂时不可用"
    assert (failed.bill_count, failed.bill_total_fen, failed.mismatch_count) == (0, 0, 0)
    assert (failed.local_count, failed.local_total_fen) == (1, 12300)
    assert items(session, failed) == []
    assert service.is_due(session, channel=WECHAT, bill_date=DAY)
    again = reconcile(session, [])
    assert (again.error, again.mismatch_count) == ("", 1)
    assert not service.is_due(session, channel=WECHAT, bill_date=DAY)


def test_a_long_error_is_cut_to_the_column(session: Session) -> None:
    error = BillUnreadable("第 3 行" + "很长" * 200)
    run = service.record_failure(session, channel=WECHAT, bill_date=DAY, error=error, now=NOW)
    assert run.error.startswith("bill_unreadable: 对账单无法识别：第 3 行")
    assert len(run.error) == 256


def test_is_due_until_a_run_succeeds(session: Session) -> None:
    assert service.is_due(session, channel=WECHAT, bill_date=DAY)
    reconcile(session, [])
    assert not service.is_due(session, channel=WECHAT, bill_date=DAY)
    assert service.is_due(session, channel=PaymentChannel.ALIPAY, bill_date=DAY)
    assert service.is_due(session, channel=WECHAT, bill_date=DAY - timedelta(days=1))


def test_day_window_is_beijing_midnight_to_midnight() -> None:
    start, end = service.day_window(DAY)
    assert start.isoformat() == "2026-11-19T16:00:00+00:00"
    assert end.isoformat() == "2026-11-20T16:00:00+00:00"
