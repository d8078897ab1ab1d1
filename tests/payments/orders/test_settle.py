"""``settle_paid``: the one place an order becomes paid."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import build_engine, session_scope
from core.kit.clock import utcnow
from core.migrate import upgrade
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
    Settlement,
    SettleOutcome,
    TransactionMismatch,
    lock_order,
    settle_paid,
)
from tests.conftest import TEST_BACKEND, database_url, drop_database
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


def settle_at(session: Session, order: PaymentOrder, txn: str, paid_at: datetime) -> Settlement:
    locked = lock_order(session, order.out_trade_no)
    assert locked is not None
    return settle_paid(session, locked, provider_txn_id=txn, paid_fen=order.amount_fen, paid_at=paid_at)


def closed_and_replaced(session: Session, decision: PenaltyDecision) -> tuple[PaymentOrder, PaymentOrder]:
    """An order superseded (closed) while its payer was paying, and its pending replacement."""
    now = utcnow()
    closed = an_order(session, decision, status=PaymentOrderStatus.CLOSED, closed_at=now)
    replacement = an_order(session, decision, amount_fen=23600, late_fee_fen=3600)
    return closed, replacement


def test_a_replaced_order_paid_before_its_expiry_is_applied(session: Session) -> None:
    decision = add_decision(session)
    closed, replacement = closed_and_replaced(session, decision)
    outcome = settle_at(session, closed, "4200000004", closed.expires_at)  # at the last second
    assert (outcome.outcome, outcome.reason) == (SettleOutcome.APPLIED, "")
    assert (closed.status, closed.paid_amount_fen) == (PaymentOrderStatus.PAID, 23000)
    assert closed.receipt_no
    assert decision.status is FineStatus.PAID
    assert replacement.status is PaymentOrderStatus.CLOSED  # closed as a sibling
    # the replacement paid as well: kept for a refund
    late = settle_at(session, replacement, "4200000014", utcnow())
    assert (late.outcome, late.reason) == (SettleOutcome.NEEDS_REFUND, "fine_paid")


def test_a_replaced_order_paid_after_its_expiry_needs_a_refund(session: Session) -> None:
    decision = add_decision(session)
    closed, replacement = closed_and_replaced(session, decision)
    outcome = settle_at(session, closed, "4200000024", closed.expires_at + timedelta(seconds=1))
    assert (outcome.outcome, outcome.reason) == (SettleOutcome.NEEDS_REFUND, "order_closed")
    assert closed.status is PaymentOrderStatus.NEEDS_REFUND
    assert decision.status is FineStatus.UNPAID
    assert replacement.status is PaymentOrderStatus.PENDING


def test_a_replaced_order_paid_in_time_for_a_fine_paid_another_way_needs_a_refund(session: Session) -> None:
    decision = add_decision(session)
    closed, replacement = closed_and_replaced(session, decision)
    assert settle_at(session, replacement, "4200000034", utcnow()).outcome is SettleOutcome.APPLIED
    outcome = settle_at(session, closed, "4200000035", utcnow())
    assert (outcome.outcome, outcome.reason) == (SettleOutcome.NEEDS_REFUND, "fine_paid")
    assert (closed.status, replacement.status) == (PaymentOrderStatus.NEEDS_REFUND, PaymentOrderStatus.PAID)


def test_a_replaced_order_paid_in_time_for_a_cancelled_fine_needs_a_refund(session: Session) -> None:
    decision = add_decision(session, status=FineStatus.CANCELLED)
    closed = an_order(session, decision, status=PaymentOrderStatus.CLOSED)
    outcome = settle_at(session, closed, "4200000044", utcnow())
    assert (outcome.outcome, outcome.reason) == (SettleOutcome.NEEDS_REFUND, "fine_cancelled")
    assert decision.status is FineStatus.CANCELLED


def test_a_replaced_order_paid_in_time_with_a_wrong_amount_changes_nothing(session: Session) -> None:
    decision = add_decision(session)
    closed, _ = closed_and_replaced(session, decision)
    with pytest.raises(AmountMismatch):
        settle(session, closed, "4200000054", fen=23600)
    assert (closed.status, decision.status) == (PaymentOrderStatus.CLOSED, FineStatus.UNPAID)


def test_money_for_a_paid_fine_needs_a_refund(session: Session) -> None:
    decision = add_decision(session)
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


# -- PostgreSQL: real concurrency on committed data -------------------------------------------------


@pytest.fixture(scope="module")
def committed_engine() -> Iterator[Engine]:
    if TEST_BACKEND != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite serialises writers)")
    url = database_url("settlerace")
    engine = build_engine(url, pool_size=8)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(url)


def test_two_channels_settled_at_once_apply_one_and_refund_the_other(committed_engine: Engine) -> None:
    """Both orders of one decision paid at the same moment (a notification of each channel, or a
    notification and the poller), many times over: one applied, one needs_refund, never a deadlock."""
    for round_no in range(8):
        with session_scope(committed_engine) as session:
            decision = add_decision(session)
            numbers = [
                an_order(session, decision).out_trade_no,
                an_order(session, decision, channel=PaymentChannel.ALIPAY).out_trade_no,
            ]
        barrier = threading.Barrier(2, timeout=60)

        def pay(barrier: threading.Barrier, out_trade_no: str, txn: str) -> tuple[SettleOutcome, str]:
            barrier.wait()
            with session_scope(committed_engine) as session:
                order = lock_order(session, out_trade_no)
                assert order is not None
                done = settle_paid(session, order, provider_txn_id=txn, paid_fen=23000, paid_at=utcnow())
                return done.outcome, done.reason

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [
                pool.submit(pay, barrier, number, f"RACE{round_no}{i}{secrets.token_hex(6)}")
                for i, number in enumerate(numbers)
            ]
            outcomes = sorted(future.result(timeout=120) for future in futures)
        assert outcomes == [(SettleOutcome.APPLIED, ""), (SettleOutcome.NEEDS_REFUND, "fine_paid")]
        with session_scope(committed_engine) as session:
            paid = session.get(PenaltyDecision, decision.id)
            assert paid is not None
            assert paid.status is FineStatus.PAID


def test_a_closed_order_of_a_deferred_decision_is_refunded_not_applied(session: Session) -> None:
    decision = add_decision(session, status=FineStatus.DEFERRED)
    closed = an_order(session, decision, status=PaymentOrderStatus.CLOSED)
    outcome = settle(session, closed, "4200000009")
    assert (outcome.outcome, outcome.reason) == (SettleOutcome.NEEDS_REFUND, "order_closed")
    assert decision.status is FineStatus.DEFERRED
