"""Reliability of payment orders: a lost notification still ends as paid, an expired order is closed.

- ``poll_pending``: orders still pending ``poll_after_s`` after creation (and not asked about in the last
  ``poll_after_s``) are queried at their provider. Paid there → settled here (``settle.settle_paid``, the
  one place an order becomes paid). Not paid and past ``expires_at`` (plus ``CLOSE_GRACE``) → closed
  (below).
- ``close_expired``: for an expired pending order, close at the provider first (after that nobody can pay
  it), then query once more: paid in the meantime → settled (applied, or ``needs_refund`` by settle's
  rules); ended or unknown there → ``closed`` here. A provider error leaves it pending for the next run.
  Only orders expired more than ``CLOSE_GRACE`` ago are closed (clock skew, see there).
- ``close_at_provider``: an order already closed here (superseded, or a sibling of a paid one) is closed
  at its provider; a payment found there is settled by settle's rules (``needs_refund`` — money kept
  for a refund, never applied twice — unless settle may still apply it). Provider trouble raises, so the
  queue retries.

Transactions: the caller passes ``unit_of_work`` (a job passes ``workers.context.job_session``, which
commits); these functions never commit themselves. The claim is one short transaction; each order is
then settled or closed in its own transaction, and the provider is only called while no transaction
(and so no row lock) is open. One order's provider trouble or database error (a deadlock, a serialization
failure: its transaction is rolled back) never stops the others; a channel that keeps failing is skipped
for the rest of the run, and a run stops claiming work past its time budget (the
orders left over were stamped ``last_polled_at`` and come back after ``poll_after_s``).

A reported amount or transaction that does not match the order is never applied: it is logged for staff
(the daily reconciliation lists it too) and the order is left as it is.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from core.kit.clock import utcnow
from core.models import PaymentChannel, PaymentOrderStatus
from core.settings import Settings
from payments.orders import reliability_repository as repository
from payments.orders.reliability_provider import Observation, ProviderCalls, ProviderState
from payments.orders.reliability_repository import OrderRef
from payments.orders.settle import (
    AmountMismatch,
    SettleOutcome,
    TransactionMismatch,
    lock_order,
    settle_paid,
)
from payments.providers import ProviderError, SignatureInvalid

log = logging.getLogger("zhcg.payments")

UnitOfWork = Callable[[], AbstractContextManager[Session]]

# After this many provider_unavailable answers in a row, a channel is skipped for the rest of the run.
CHANNEL_BREAKER = 3
# A run stops starting new orders after this long (the job's timeout is 300 s).
RUN_BUDGET_S = 240.0
# An expired order is only closed this long after its ``expires_at``. Both providers stop taking
# payment at the ``time_expire`` we sent, by their own clock, which may lag ours: closing at exactly
# ``expires_at`` (above all marking closed an Alipay trade the provider does not know yet, whose payer may
# still open it) would let a payment through for an order we had just closed, and it would end as
# ``needs_refund``. Two minutes covers clock skew; the payer's time is not extended.
CLOSE_GRACE = timedelta(minutes=2)
CHANNEL_DOWN = frozenset({"provider_unavailable", "provider_not_configured"})
PROVIDER_TROUBLE = (ProviderError, SignatureInvalid)
# What of a provider error goes to the logs (replies may carry the payer's id: never the whole reply).
LOGGED_DETAILS = ("status", "provider_code", "provider_sub_code", "provider_message", "error")


class Outcome(StrEnum):
    PAID = "paid"  # the payment was applied: order and decision paid
    NEEDS_REFUND = "needs_refund"  # money received that cannot be applied: flagged for a refund
    ALREADY = "already"  # settled or closed meanwhile (by a notification or another run): nothing to do
    CLOSED = "closed"  # closed here (and at the provider)
    WAITING = "waiting"  # still open at the provider: asked again later
    MISMATCH = "mismatch"  # the provider reports another amount or transaction: left for staff
    FAILED = "failed"  # the provider could not be asked, or a database error: left pending for the next run
    SKIPPED = "skipped"  # not asked in this run (channel breaker or time budget)


class StillOpenAtProvider(ProviderError):
    """The provider still offers an order we closed: the job is retried until it is closed there."""

    def __init__(self, out_trade_no: str, provider_state: str) -> None:
        super().__init__(
            "provider_still_open",
            "支付平台上的订单仍可支付，稍后重试关闭",
            out_trade_no=out_trade_no,
            provider_state=provider_state,
        )


def brief(exc: ProviderError | SignatureInvalid) -> str:
    details = {key: exc.details[key] for key in LOGGED_DETAILS if exc.details.get(key)}
    return f"{exc.code} {details}" if details else exc.code


def db_brief(exc: DBAPIError) -> str:
    """The kind of a database error for the logs (its statement and parameters may carry payer data)."""
    original = exc.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None) or ""
    name = type(original).__name__ if original is not None else type(exc).__name__
    return f"{name} {code}".strip()


SETTLE_OUTCOMES = {
    SettleOutcome.APPLIED: Outcome.PAID,
    SettleOutcome.NEEDS_REFUND: Outcome.NEEDS_REFUND,
    SettleOutcome.ALREADY: Outcome.ALREADY,
}


# -- one order, in the caller's transaction ---------------------------------------------------------


def apply_paid(session: Session, *, out_trade_no: str, seen: Observation, now: datetime) -> Outcome:
    """Settle a payment the provider reports (the order is locked until the transaction ends)."""
    order = lock_order(session, out_trade_no)
    if order is None or seen.txn_id is None or seen.amount_fen is None:
        log.error("provider reports %s paid but it cannot be settled here (%s)", out_trade_no, seen)
        return Outcome.MISMATCH
    try:
        settlement = settle_paid(
            session,
            order,
            provider_txn_id=seen.txn_id,
            paid_fen=seen.amount_fen,
            paid_at=seen.paid_at or now,
        )
    except (AmountMismatch, TransactionMismatch) as exc:
        log.error(
            "payment of %s reported by the provider not applied (%s %s, transaction %s); left for staff",
            out_trade_no,
            exc.code,
            exc.details,
            seen.txn_id,
        )
        return Outcome.MISMATCH
    if settlement.outcome is SettleOutcome.NEEDS_REFUND:
        log.warning("payment of %s kept for a refund: %s", out_trade_no, settlement.reason)
    return SETTLE_OUTCOMES[settlement.outcome]


def mark_closed(session: Session, *, out_trade_no: str, now: datetime) -> Outcome:
    """Close a pending order here (it is closed at the provider already)."""
    order = lock_order(session, out_trade_no)
    if order is None or order.status is not PaymentOrderStatus.PENDING:
        return Outcome.ALREADY
    order.status = PaymentOrderStatus.CLOSED
    order.closed_at = now
    session.add(order)
    session.flush()
    return Outcome.CLOSED


# -- one order, across transactions -----------------------------------------------------------------


def _settle(ref: OrderRef, seen: Observation, *, unit_of_work: UnitOfWork, now: datetime) -> Outcome:
    with unit_of_work() as session:
        return apply_paid(session, out_trade_no=ref.out_trade_no, seen=seen, now=now)


def close_expired_order(
    ref: OrderRef, *, calls: ProviderCalls, unit_of_work: UnitOfWork, now: datetime
) -> Outcome:
    """Close at the provider, query once more, then settle or close here. Raises provider trouble."""
    calls.close(ref.channel, ref.out_trade_no)
    seen = calls.query(ref.channel, ref.out_trade_no)
    if seen.paid:
        return _settle(ref, seen, unit_of_work=unit_of_work, now=now)
    if seen.state in (ProviderState.ENDED, ProviderState.MISSING):
        with unit_of_work() as session:
            return mark_closed(session, out_trade_no=ref.out_trade_no, now=now)
    log.warning("%s is still %s at the provider after closing it", ref.out_trade_no, seen.provider_state)
    return Outcome.WAITING


def check_order(ref: OrderRef, *, calls: ProviderCalls, unit_of_work: UnitOfWork, now: datetime) -> Outcome:
    """Ask the provider about a pending order: settle it if paid, close it if expired. Raises provider
    trouble."""
    seen = calls.query(ref.channel, ref.out_trade_no)
    if seen.paid:
        return _settle(ref, seen, unit_of_work=unit_of_work, now=now)
    if seen.state is ProviderState.OTHER:
        log.error("%s is pending here but %s at the provider; left for staff", ref.out_trade_no, seen)
        return Outcome.WAITING
    if ref.expires_at > now - CLOSE_GRACE:
        return Outcome.WAITING
    return close_expired_order(ref, calls=calls, unit_of_work=unit_of_work, now=now)


# -- runs ------------------------------------------------------------------------------------------


class _Run:
    """One run over claimed orders: provider trouble and database errors are counted per order, not
    raised."""

    def __init__(self, *, budget_s: float) -> None:
        self.outcomes: Counter[Outcome] = Counter()
        self.failures: Counter[PaymentChannel] = Counter()
        self.deadline = time.monotonic() + budget_s

    def each(self, refs: Iterable[OrderRef], step: Callable[[OrderRef], Outcome]) -> None:
        for ref in refs:
            if time.monotonic() > self.deadline or self.failures[ref.channel] >= CHANNEL_BREAKER:
                self.outcomes[Outcome.SKIPPED] += 1
                continue
            try:
                outcome = step(ref)
            except PROVIDER_TROUBLE as exc:
                log.warning("%s at %s: %s", ref.out_trade_no, ref.channel, brief(exc))
                if exc.code in CHANNEL_DOWN:
                    self.failures[ref.channel] += 1
                outcome = Outcome.FAILED
            except DBAPIError as exc:
                # A deadlock, a serialization failure or a constraint on this one order: its unit of work
                # was rolled back (nothing of it is kept) and the next run asks again. Not the provider's
                # fault, so the channel breaker is left alone.
                log.warning("%s: database error, left for the next run (%s)", ref.out_trade_no, db_brief(exc))
                outcome = Outcome.FAILED
            else:
                self.failures[ref.channel] = 0
            self.outcomes[outcome] += 1


def poll_pending(
    *,
    settings: Settings,
    calls: ProviderCalls,
    unit_of_work: UnitOfWork,
    now: datetime | None = None,
    budget_s: float = RUN_BUDGET_S,
) -> Counter[Outcome]:
    """Query the provider of every due pending order (at most ``poll_batch``); see the module docstring."""
    now = now or utcnow()
    group = settings.payments
    with unit_of_work() as session:
        refs = repository.claim_due(session, now=now, poll_after_s=group.poll_after_s, limit=group.poll_batch)
    run = _Run(budget_s=budget_s)
    run.each(refs, lambda ref: check_order(ref, calls=calls, unit_of_work=unit_of_work, now=now))
    return run.outcomes


def close_expired(
    *,
    settings: Settings,
    calls: ProviderCalls,
    unit_of_work: UnitOfWork,
    now: datetime | None = None,
    budget_s: float = RUN_BUDGET_S,
) -> Counter[Outcome]:
    """Close every expired pending order (at most ``poll_batch``) at its provider and here."""
    now = now or utcnow()
    group = settings.payments
    with unit_of_work() as session:
        refs = repository.claim_expired(
            session,
            now=now,
            expired_before=now - CLOSE_GRACE,
            poll_after_s=group.poll_after_s,
            limit=group.poll_batch,
        )
    run = _Run(budget_s=budget_s)
    run.each(refs, lambda ref: close_expired_order(ref, calls=calls, unit_of_work=unit_of_work, now=now))
    return run.outcomes


def close_at_provider(
    order_id: int, *, calls: ProviderCalls, unit_of_work: UnitOfWork, now: datetime | None = None
) -> Outcome:
    """Close an order that is already closed here at its provider; settle a payment found there (by
    settle's rules). Raises ``ProviderError``/``SignatureInvalid`` so the job is retried."""
    now = now or utcnow()
    with unit_of_work() as session:
        ref = repository.find_ref(session, order_id)
    if ref is None:
        log.warning("close at provider: order %s does not exist", order_id)
        return Outcome.ALREADY
    if ref.status is not PaymentOrderStatus.CLOSED:
        # A pending order is the poller's; a settled one is not closed at the provider.
        log.info("close at provider: order %s is %s here, nothing to close", order_id, ref.status)
        return Outcome.ALREADY
    calls.close(ref.channel, ref.out_trade_no)
    seen = calls.query(ref.channel, ref.out_trade_no)
    if seen.paid:
        return _settle(ref, seen, unit_of_work=unit_of_work, now=now)
    if seen.state is ProviderState.OPEN:
        raise StillOpenAtProvider(ref.out_trade_no, seen.provider_state)
    if seen.state is ProviderState.OTHER:
        log.error("%s is closed here but %s at the provider; left for staff", ref.out_trade_no, seen)
        return Outcome.MISMATCH
    return Outcome.CLOSED
