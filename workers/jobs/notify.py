"""Citizen notifications: deliver one outbox message through the SMS gateway."""

from __future__ import annotations

from rq import get_current_job

from core.notify import delivery
from core.notify.sms import gateway_from_settings
from workers.context import get_settings, job_session


def _last_try() -> bool:
    """True when the queue will not run this job again: inline (no retries) or no RQ retries left."""
    job = get_current_job()
    return job is None or not job.retries_left


def deliver(message_id: int) -> None:
    gateway = gateway_from_settings(get_settings())
    deferred: delivery.DeliveryDeferred | None = None
    with job_session() as session:
        try:
            delivery.deliver(session, message_id, gateway=gateway, final_attempt=_last_try())
        except delivery.DeliveryDeferred as exc:
            deferred = exc  # commit the counted attempt and its error first …
    if deferred is not None:
        raise deferred  # … then fail this run so RQ retries it with the job spec's back-off


def sweep() -> None:
    """Periodic: queue again the messages whose delivery job was lost."""
    from core.kit.clock import utcnow
    from core.notify.outbox import requeue_stale

    with job_session() as session:
        requeue_stale(session, now=utcnow())
