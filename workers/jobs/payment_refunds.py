"""Refund jobs: send one refund to its provider; the periodic poll for unfinished refunds.

``refund`` owns its transactions: it reads what to send and commits, calls the provider with no
transaction open (never while holding a lock), then applies the answer in a new transaction. A provider
that cannot be reached raises, so RQ retries (the provider keys refunds on ``out_refund_no``: sending
again is safe); a definite refusal ends the refund as FAILED for staff.
"""

from __future__ import annotations

import logging

from core.kit.clock import utcnow
from core.models import RefundStatus
from payments.refunds import provider, service
from payments.refunds.errors import RefundNotFound
from payments.refunds.poll import poll_processing
from workers.context import get_settings, job_session

log = logging.getLogger("zhcg.payments.refunds")


def refund(refund_id: int) -> None:
    settings = get_settings()
    with job_session() as session:
        try:
            call = service.refund_call(session, refund_id)
        except RefundNotFound:  # gone (or never visible to this process): nothing to send
            log.warning("refund %s does not exist: nothing to send", refund_id)
            return
    if call is None:
        return  # finished already (a duplicate job, or the notification came first)
    outcome = provider.send(settings, call)
    with job_session() as session:
        service.apply_outcome(session, refund_id, outcome, now=utcnow())
    if outcome.status is RefundStatus.FAILED:
        log.error("refund %s refused by the provider: %s", call.out_refund_no, outcome.failure)


def refund_poll() -> None:
    """Periodic (cron): ask the providers about refunds still unfinished after ``poll_after_s`` (each
    refund's answer is applied in its own transaction; see ``payments.refunds.poll``)."""
    result = poll_processing(get_settings(), unit_of_work=job_session, now=utcnow())
    if result.asked:
        log.info("refund poll: %s asked, %s changed, %s errors", result.asked, result.changed, result.errors)
