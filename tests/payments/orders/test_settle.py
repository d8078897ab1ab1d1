"""``settle_paid``: the one place an order becomes paid."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from core.kit.clock import utcnow
from core.models import (
    FineStatus,
    OutboxMessage,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
)
from core.settings import get_settings
from payments.orders.settle import (
    FINE_PAID_EVENT,
    AmountMismatch,
    SettleOutcome,
    TransactionMismatch,
    lock_order,
    settle_paid,
)
from tests.payments.orders.support import add_citizen, add_decision


def an_order(session: Session, decision: PenaltyDecision, **values: object) -> PaymentOrder:
    now = utcnow()
    fields: dict[str, object] = {
        "out_trade_no": f"FP{secrets.token_hex(8).upper()}",
        "decision_id": decision.id,
        "channel": PaymentChannel.WECHAT,
        "client": PaymentClient.MINIPROGRAM,
        "amount_fen": 23000,
        "fine_fen": 20000,
        "late_fee_fen": 3000,
        "expires_at": now + timedelta(minutes=30),
    } | values
    order = PaymentOrder(**fields)
    session.add(order)
    session.flush()
    return order


def settle(session: Session, order: PaymentOrder, txn: str, fen: int = 23000):  # type: ignore[no-untyped-def]
    locked = lock_order(session, order.out_trade_no)
    assert locked is not None
    return settle_paid(session, locked, provider_txn_id=txn, paid_fen=fen, paid_at=utcnow())


def test_applied_once_then_already(session: Session) -> None:
    decision = add_decision(session)
    order = an_order(session, decision)
    first = settle(session, order, "4200000001")
    assert first.outcome is SettleOutcome.APPLIED
    assert order.status is PaymentOrderStatus.PAID
    assert order.receipt_no
    assert decision.status is FineStatus.PAID
    receipt = order.receipt_no
    assert settle(session, order, "4200000001").outcome is SettleOutcome.ALREADY
    assert order.receipt_no == receipt
    with pytest.raises(TransactionMismatch):
        settle(session, order, "4200000002")


def test_a_wrong_amount_changes_nothing(session: Session) -> None:
    decision = add_decision(session)
    order = an_order(session, decision)
    with pytest.raises(AmountMismatch):
        settle(session, order, "4200000003", fen=22999)
    assert order.status is PaymentOrderStatus.PENDING
    assert order.provider_txn_id is None
    assert decision.status is FineStatus.UNPAID


def test_money_for_a_closed_order_or_a_paid_fine_needs_a_refund(session: Session) -> None:
    decision = add_decision(session)
    closed = an_order(session, decision, status=PaymentOrderStatus.CLOSED)
    outcome = settle(session, closed, "4200000004")
    assert (outcome.outcome, outcome.reason) == (SettleOutcome.NEEDS_REFUND, "order_closed")
    paid = an_order(session, decision, channel=PaymentChannel.ALIPAY)
    assert settle(session, paid, "2026112122001").outcome is SettleOutcome.APPLIED
    late = an_order(session, decision)
    outcome = settle(session, late, "4200000005")
    assert (outcome.outcome, outcome.reason) == (SettleOutcome.NEEDS_REFUND, "fine_paid")
    assert late.status is PaymentOrderStatus.NEEDS_REFUND


def test_paying_the_sibling_closes_the_other_channel(session: Session) -> None:
    decision = add_decision(session)
    wechat = an_order(session, decision)
    alipay = an_order(session, decision, channel=PaymentChannel.ALIPAY)
    settle(session, wechat, "4200000006")
    assert alipay.status is PaymentOrderStatus.CLOSED


def test_a_citizen_hears_about_every_decision_paid(session: Session) -> None:
    """Two decisions paid by one citizen: two messages (fine messages are not keyed by case)."""
    citizen, _ = add_citizen(session, get_settings())
    for txn in ("4200000007", "4200000008"):
        decision = add_decision(session)
        order = an_order(session, decision, citizen_id=citizen.id)
        assert settle(session, order, txn).outcome is SettleOutcome.APPLIED
    messages = session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.citizen_id) == citizen.id, col(OutboxMessage.event) == FINE_PAID_EVENT
        )
    ).all()
    assert len(messages) == 2
    assert {message.case_id for message in messages} == {None}
