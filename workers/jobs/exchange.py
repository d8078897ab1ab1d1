"""The 12345 exchange: deliver an order's status pushes in order; the periodic sweep.

``push`` owns the transactions (``core.exchange.delivery`` explains them): the attempt is committed
before the call, the call runs with no transaction open, the answer is committed after it.
"""

from __future__ import annotations

import logging

from core.exchange import delivery, pushes
from core.exchange.client import ExchangeCallError, client_from_settings
from core.exchange.signing import nonce_retention, purge_nonces
from core.kit.clock import utcnow
from core.models import ExchangePushStatus
from workers.context import get_settings, job_session

log = logging.getLogger("zhcg.exchange")

MAX_PUSHES_PER_RUN = 50


def push(order_id: int) -> None:
    """Send the order's pending pushes one after another until one is not acknowledged."""
    client = client_from_settings(get_settings())
    if client is None:
        log.warning("12345 exchange not configured (ZHCG_GOV12345__BASE_URL…): order %s waits", order_id)
        return
    for _ in range(MAX_PUSHES_PER_RUN):
        with job_session() as session:
            attempt = delivery.begin(session, order_id, now=utcnow())
        if attempt is None:
            return
        error: ExchangeCallError | None = None
        try:
            client.push(attempt.body)
        except ExchangeCallError as exc:
            error = exc
        with job_session() as session:
            status = delivery.settle(session, attempt.push_id, error, now=utcnow())
        if status is ExchangePushStatus.FAILED:
            log.error("12345 refused push %s of order %s: %s", attempt.push_id, order_id, error)
            return
        if status is ExchangePushStatus.PENDING:
            raise delivery.PushDeferred(attempt.push_id, str(error))  # RQ retries with the spec's back-off


def sweep() -> None:
    """Periodic: derive pushes from new history rows, queue again the ones whose job was lost, and
    forget expired nonces."""
    settings = get_settings()
    now = utcnow()
    with job_session() as session:
        collected = pushes.collect(session, now=now)
        requeued = pushes.requeue_due(session, now=now)
        purge_nonces(session, older_than=now - nonce_retention(settings))
    if collected.pushes or requeued:
        log.info("12345 sweep: %s new pushes, %s orders queued again", collected.pushes, len(requeued))
