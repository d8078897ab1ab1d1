"""Applying a payment the provider reports as received: the one place an order becomes paid.

Called by the notification handlers and the poller with the order locked by ``lock_order`` (a
precondition: ``settle_paid`` takes the decision from the session, locked there), which
locks the order's **decision first, then the order** — the one lock order of every path that pays or
creates orders for a decision (order creation locks the decision too), so two settlements of one
decision (two channels, or a notification and the poller) queue instead of deadlocking, and no order
can be created for a decision while it is being paid.

Idempotent: the same provider transaction applied twice is ``ALREADY``. The amount must be exact (a
mismatch raises and changes nothing). A pending order is applied. A closed (superseded) order is applied
too when the provider's paid time is at or before its ``expires_at``: the payer was within the time
they were given (a late-fee change at midnight, a second tab); the decision's other pending orders,
the replacement included, are closed as siblings. Money that arrives for an order paid after its
expiry (``order_closed``), or for a decision that is no longer payable (``fine_paid``,
``fine_cancelled``), is kept as ``needs_refund`` and shows up for staff. The partial unique index
``uq_payment_order_paid_decision`` is the last guard against a decision paid twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from core.errors import Conflict
from core.jobs import enqueue
from core.kit.clock import to_local
from core.models import FineStatus, PaymentOrder, PaymentOrderStatus, PenaltyDecision
from core.notify import outbox
from payments.orders import repository

PAYABLE = (FineStatus.UNPAID, FineStatus.DEFERRED)
SETTLED = (PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND, PaymentOrderStatus.REFUNDED)
FINE_PAID_EVENT = "fine_paid"


class SettleOutcome(StrEnum):
    APPLIED = "applied"  # the order is paid and the decision with it
    ALREADY = "already"  # this provider transaction was applied before: nothing changed
    NEEDS_REFUND = "needs_refund"  # money received that cannot be applied: flagged for a refund


class AmountMismatch(Conflict):
    def __init__(self, *, expected_fen: int, reported_fen: int) -> None:
        super().__init__(
            "amount_mismatch",
            "支付金额与订单金额不一致",
            expected_fen=expected_fen,
            reported_fen=reported_fen,
        )


class TransactionMismatch(Conflict):
    """The order was settled by a different provider transaction (a second payment of one order)."""

    def __init__(self) -> None:
        super().__init__("transaction_mismatch", "该订单已由另一笔交易支付")


@dataclass(frozen=True)
class Settlement:
    outcome: SettleOutcome
    order: PaymentOrder
    reason: str = ""  # why a refund is needed: order_closed, fine_paid, fine_cancelled


def lock_order(session: Session, out_trade_no: str) -> PaymentOrder | None:
    """The order locked after its decision (every path locks the decision first; see the repository)."""
    return repository.lock_order(session, out_trade_no)


def lock_decision(session: Session, decision_id: int) -> PenaltyDecision:
    return repository.lock_decision(session, decision_id)


def receipt_no(order: PaymentOrder, paid_at: datetime) -> str:
    """``ZF`` + local paying date + the order id: unique, sortable, not guessable from a decision."""
    return f"ZF{to_local(paid_at):%Y%m%d}{order.id:08d}"


def settle_paid(
    session: Session,
    order: PaymentOrder,
    *,
    provider_txn_id: str,
    paid_fen: int,
    paid_at: datetime,
) -> Settlement:
    """Apply a reported payment to a locked order (see the module docstring)."""
    if order.status in SETTLED:
        if order.provider_txn_id == provider_txn_id:
            return Settlement(SettleOutcome.ALREADY, order)
        raise TransactionMismatch()
    if paid_fen != order.amount_fen:
        raise AmountMismatch(expected_fen=order.amount_fen, reported_fen=paid_fen)
    decision = repository.locked_decision(session, order)  # locked by the caller's lock_order
    reason = _refund_reason(order, decision, paid_at)
    if reason:
        order.provider_txn_id = provider_txn_id
        order.paid_at = paid_at
        order.paid_amount_fen = paid_fen
        order.status = PaymentOrderStatus.NEEDS_REFUND
        session.add(order)
        session.flush()
        return Settlement(SettleOutcome.NEEDS_REFUND, order, reason)
    repository.mark_paid(
        session,
        order,
        decision,
        provider_txn_id=provider_txn_id,
        paid_at=paid_at,
        paid_fen=paid_fen,
        receipt_no=receipt_no(order, paid_at),
    )
    _close_sibling_orders(session, order)
    if order.citizen_id is not None:
        outbox.record_standalone(
            session,
            event=FINE_PAID_EVENT,
            citizen_id=order.citizen_id,
            payload={
                "decision_no": decision.decision_no,
                "amount_fen": paid_fen,
                "receipt_no": order.receipt_no,
            },
        )
    enqueue(session, "payments.receipt", order_id=order.id)
    return Settlement(SettleOutcome.APPLIED, order)


def _refund_reason(order: PaymentOrder, decision: PenaltyDecision, paid_at: datetime) -> str:
    """Why money received for this order cannot be applied ("" when it can)."""
    if not _paid_in_time(order, paid_at):
        return "order_closed"
    if order.status is PaymentOrderStatus.CLOSED and decision.status is FineStatus.DEFERRED:
        # Closed when the deferral was approved: its frozen amount may hold a late fee the deferral
        # waives, so staff refund it rather than keep too much.
        return "order_closed"
    if decision.status is FineStatus.PAID:
        return "fine_paid"
    if decision.status not in PAYABLE:
        return "fine_cancelled"
    return ""


def _paid_in_time(order: PaymentOrder, paid_at: datetime) -> bool:
    """A pending order, or a closed (superseded) one paid at or before its expiry."""
    if order.status is PaymentOrderStatus.PENDING:
        return True
    return order.status is PaymentOrderStatus.CLOSED and paid_at <= order.expires_at


def _close_sibling_orders(session: Session, paid: PaymentOrder) -> None:
    """Other open orders of the same decision can no longer be paid usefully: close them here and at
    their provider (a payment that still slips through becomes ``needs_refund``)."""
    for sibling_id in repository.close_pending_siblings(session, paid):
        enqueue(session, "payments.close_at_provider", order_id=sibling_id)
