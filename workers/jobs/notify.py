"""Citizen notifications: deliver one outbox message by WeChat subscribe message or SMS.

The job owns the transactions (``core.notify.delivery`` explains why there are up to three): the WeChat
claim is committed before the call, and the call runs with no transaction open.
"""

from __future__ import annotations

from rq import get_current_job

from core.notify import delivery
from core.notify.sms import gateway_from_settings
from core.wechat.api import WechatCallError, api_from_settings
from workers.context import get_settings, job_session


def _last_try() -> bool:
    """True when the queue will not run this job again: inline (no retries) or no RQ retries left."""
    job = get_current_job()
    return job is None or not job.retries_left


def deliver(message_id: int) -> None:
    settings = get_settings()
    final = _last_try()
    wechat = api_from_settings(settings)
    with job_session() as session:
        begun = delivery.begin(
            session,
            message_id,
            templates=settings.wechat.subscribe_templates,
            wechat_enabled=wechat is not None,
        )
    if begun.done:
        return

    deferred: delivery.DeliveryDeferred | None = None
    attempt = begun.wechat
    if attempt is not None and wechat is not None:
        error: WechatCallError | None = None
        try:
            wechat.send_subscribe(
                openid=attempt.openid,
                template_id=attempt.template_id,
                page=attempt.page,
                data=attempt.data,
                state=settings.wechat.miniprogram_state,
            )
        except WechatCallError as exc:
            error = exc
        with job_session() as session:
            try:
                if delivery.settle_wechat(session, message_id, error, final_attempt=final):
                    return
            except delivery.DeliveryDeferred as exc:
                deferred = exc  # commit the counted attempt and its error first …
        if deferred is not None:
            raise deferred  # … then fail this run so RQ retries it with the job spec's back-off

    with job_session() as session:
        try:
            delivery.deliver_sms(
                session, message_id, gateway=gateway_from_settings(settings), final_attempt=final
            )
        except delivery.DeliveryDeferred as exc:
            deferred = exc
    if deferred is not None:
        raise deferred


def sweep() -> None:
    """Periodic: queue again the messages whose delivery job was lost."""
    from core.kit.clock import utcnow
    from core.notify.outbox import requeue_stale

    with job_session() as session:
        requeue_stale(session, now=utcnow())
