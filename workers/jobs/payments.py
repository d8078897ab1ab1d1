"""Payment order jobs: the receipt of a paid order, closing orders at their provider, and the poll of
pending orders (``payments.orders.reliability`` explains the rules and the transactions).

Each job owns its units of work (``job_session`` commits); the provider is only called while no
transaction is open. ``poll_pending`` runs every minute (``workers.cron``) and also closes expired orders;
``close_expired`` does only the latter. ``close_at_provider`` raises on provider trouble so RQ retries it.
"""

from __future__ import annotations

import logging
from collections import Counter

from core.kit.clock import utcnow
from payments.orders import reliability
from payments.orders.reliability_provider import ProviderCalls
from payments.receipts import service as receipts
from payments.receipts.errors import ReceiptNotFound
from workers.context import get_settings, job_session

log = logging.getLogger("zhcg.payments")


def receipt(order_id: int) -> None:
    """Issue the receipt of an order settled as paid (idempotent)."""
    with job_session() as session:
        try:
            receipts.issue(session, order_id=order_id, now=utcnow())
        except ReceiptNotFound:
            # Not paid (any more) or gone: retrying cannot help.
            log.warning("no receipt for payment order %s: it is not paid", order_id)


def close_at_provider(order_id: int) -> None:
    outcome = reliability.close_at_provider(
        order_id, calls=ProviderCalls(get_settings()), unit_of_work=job_session, now=utcnow()
    )
    log.info("payment order %s closed at its provider: %s", order_id, outcome)


def _report(what: str, outcomes: Counter[reliability.Outcome]) -> None:
    if outcomes:
        log.info("%s: %s", what, ", ".join(f"{key} {count}" for key, count in sorted(outcomes.items())))


def poll_pending() -> None:
    settings = get_settings()
    calls = ProviderCalls(settings)
    polled = reliability.poll_pending(settings=settings, calls=calls, unit_of_work=job_session, now=utcnow())
    _report("payment poll", polled)
    closed = reliability.close_expired(settings=settings, calls=calls, unit_of_work=job_session, now=utcnow())
    _report("expired payment orders", closed)


def close_expired() -> None:
    settings = get_settings()
    closed = reliability.close_expired(
        settings=settings, calls=ProviderCalls(settings), unit_of_work=job_session, now=utcnow()
    )
    _report("expired payment orders", closed)
