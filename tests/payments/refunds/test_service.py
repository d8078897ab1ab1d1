"""Requesting a refund and applying the provider's word (no provider involved)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlmodel import Session

from core.jobs import pending_jobs
from core.kit.clock import utcnow
from core.models import (
    FineStatus,
    PaymentChannel,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
    RefundStatus,
)
from payments.refunds import service
from payments.refunds.errors import NotRefundable, OrderNotFound
from tests.payments.refunds.conftest import record_order


def _order(
    session: Session, status: PaymentOrderStatus = PaymentOrderStatus.PAID, amount_fen: int = 20000
) -> int:
    out_trade_no, txn_id = f"R{secrets.token_hex(12)}", f"4200{secrets.token_hex(8)}"
    order = record_order(session, PaymentChannel.WECHAT, out_trade_no, txn_id, amount_fen, status=status)
    assert order.id is not None
    return order.id


@pytest.mark.parametrize("status", [PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND])
def test_request_records_a_full_refund_and_enqueues_the_job(
    session: Session, status: PaymentOrderStatus
) -> None:
    order_id = _order(session, status, amount_fen=20300)
    now = utcnow()
    refund = service.request_refund(session, order_id=order_id, reason=" 决定撤销 ", staff_id=None, now=now)
    assert refund.status is RefundStatus.REQUESTED
    assert refund.amount_fen == 20300  # what was paid, in full
    assert refund.reason == "决定撤销"
    assert refund.out_refund_no.startswith("RF")
    assert [(job.name, dict(job.kwargs)) for job in pending_jobs(session)] == [
        ("payments.refund", {"refund_id": refund.id})
    ]
    # Asked again (a double click): the same refund, no second job.
    again = service.request_refund(session, order_id=order_id, reason="再次", staff_id=None, now=now)
    assert again.id == refund.id
    assert len(pending_jobs(session)) == 1


@pytest.mark.parametrize("status", [PaymentOrderStatus.PENDING, PaymentOrderStatus.CLOSED])
def test_orders_without_money_cannot_be_refunded(session: Session, status: PaymentOrderStatus) -> None:
    order_id = _order(session, status)
    with pytest.raises(NotRefundable) as caught:
        service.request_refund(session, order_id=order_id, reason="x", staff_id=None, now=utcnow())
    assert caught.value.code == "payment_not_refundable"
    with pytest.raises(OrderNotFound):
        service.request_refund(session, order_id=10**9, reason="x", staff_id=None, now=utcnow())
    assert pending_jobs(session) == []


def test_outcomes_move_the_refund_forward_only(session: Session) -> None:
    order_id = _order(session)
    now = utcnow()
    refund = service.request_refund(session, order_id=order_id, reason="撤销", staff_id=None, now=now)
    assert refund.id is not None
    assert service.refund_call(session, refund.id) == service.RefundCall(
        refund_id=refund.id,
        channel=PaymentChannel.WECHAT,
        out_trade_no=session.get_one(PaymentOrder, order_id).out_trade_no,
        out_refund_no=refund.out_refund_no,
        amount_fen=20000,
        total_fen=20000,
        reason="撤销",
    )
    processing = service.RefundOutcome(RefundStatus.PROCESSING, provider_refund_id="5000001")
    assert service.apply_outcome(session, refund.id, processing, now=now)
    assert refund.status is RefundStatus.PROCESSING
    assert not service.apply_outcome(
        session, refund.id, service.RefundOutcome(RefundStatus.PROCESSING), now=now
    )

    done_at = now + timedelta(minutes=3)
    assert service.apply_outcome(
        session, refund.id, service.RefundOutcome(RefundStatus.SUCCEEDED, finished_at=done_at), now=now
    )
    assert (refund.status, refund.finished_at, refund.provider_refund_id) == (
        RefundStatus.SUCCEEDED,
        done_at,
        "5000001",
    )
    order = session.get_one(PaymentOrder, order_id)
    assert order.status is PaymentOrderStatus.REFUNDED
    decision = session.get_one(PenaltyDecision, order.decision_id)
    assert decision.status is FineStatus.PAID  # left to staff
    # Finished: a late failure changes nothing, and there is nothing more to send.
    assert not service.apply_outcome(
        session, refund.id, service.RefundOutcome(RefundStatus.FAILED, failure="x"), now=now
    )
    assert refund.status is RefundStatus.SUCCEEDED
    assert service.refund_call(session, refund.id) is None


def test_a_failed_refund_still_ends_succeeded_when_the_provider_says_so(session: Session) -> None:
    order_id = _order(session)
    refund = service.request_refund(session, order_id=order_id, reason="撤销", staff_id=None, now=utcnow())
    assert refund.id is not None
    failed = service.RefundOutcome(RefundStatus.FAILED, failure="wechat:ABNORMAL")
    assert service.apply_outcome(session, refund.id, failed, now=utcnow())
    assert (refund.status, refund.failure) == (RefundStatus.FAILED, "wechat:ABNORMAL")
    assert service.refund_call(session, refund.id) is None
    assert service.apply_outcome(
        session, refund.id, service.RefundOutcome(RefundStatus.SUCCEEDED), now=utcnow()
    )
    assert (refund.status, refund.failure) == (RefundStatus.SUCCEEDED, "")
    assert session.get_one(PaymentOrder, order_id).status is PaymentOrderStatus.REFUNDED
