"""Delivering one outbox message (the work of the ``notify.deliver`` job).

Idempotent: a message that is no longer pending is left alone, and the row is locked while it is sent,
so two runs of the job text the citizen once. The gateway also deduplicates on ``out_id``
(``outbox-<id>``), which covers a send whose answer was lost before the commit.

Outcomes: ``sent`` (channel ``sms``); ``skipped`` when no channel reaches the citizen (no phone);
``failed`` on a permanent error (unknown event, refused number, wrong credentials) or when the last
attempt also failed; otherwise ``DeliveryDeferred`` is raised so the job queue retries later. The
attempt and its error are recorded on the row before raising: the job commits, then re-raises.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlmodel import Session

from core.citizens import repository as citizens_repository
from core.jobs import JOBS
from core.kit.clock import utcnow
from core.models import OutboxMessage, OutboxStatus
from core.notify import repository
from core.notify.sms import SmsError, SmsGateway, mask_phone
from core.notify.templates import TemplateError, render

log = logging.getLogger("zhcg.notify")

CHANNEL_SMS = "sms"
# The first run and every retry of the job spec.
MAX_ATTEMPTS = 1 + len(JOBS["notify.deliver"].retries)
MAX_ERROR_CHARS = 500


class DeliveryDeferred(Exception):
    """A retryable failure: the job raises it (after committing the counted attempt) so it runs again."""

    def __init__(self, message_id: int, error: str) -> None:
        super().__init__(f"outbox message {message_id} not delivered yet: {error}")
        self.message_id = message_id
        self.error = error


def _payload(message: OutboxMessage) -> dict[str, Any]:
    try:
        payload = json.loads(message.payload or "{}")
    except ValueError as exc:
        raise TemplateError("payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise TemplateError("payload is not a JSON object")
    return payload


def _finish(message: OutboxMessage, status: OutboxStatus, error: str = "") -> OutboxStatus:
    message.status = status
    message.last_error = error[:MAX_ERROR_CHARS]
    message.updated_at = utcnow()
    return status


def deliver(
    session: Session, message_id: int, *, gateway: SmsGateway, final_attempt: bool = False
) -> OutboxStatus | None:
    """Deliver one message; its status afterwards (None: no such message).

    ``final_attempt``: the job queue will not run this again, so a retryable failure is final too.
    """
    # A primary-key lookup, locked until commit (PostgreSQL; SQLite serialises writers anyway).
    message = repository.for_update(session, message_id)
    if message is None:
        log.warning("outbox message %s does not exist", message_id)
        return None
    if message.status is not OutboxStatus.PENDING:
        return message.status

    message.attempts += 1
    try:
        text = render(message.event, _payload(message))
    except TemplateError as exc:
        log.error("outbox message %s cannot be written: %s", message_id, exc)
        return _finish(message, OutboxStatus.FAILED, f"template: {exc}")

    citizen = citizens_repository.citizen_by_id(session, message.citizen_id)
    phone = citizen.phone if citizen is not None else None
    if not phone:
        return _finish(message, OutboxStatus.SKIPPED, "no channel: the citizen has no phone number")

    try:
        gateway.send(phone, text, out_id=f"outbox-{message_id}")
    except SmsError as exc:
        error = f"sms: {exc}"
        if not exc.retryable or final_attempt or message.attempts >= MAX_ATTEMPTS:
            log.error(
                "outbox message %s to %s failed after %s attempt(s): %s",
                message_id,
                mask_phone(phone),
                message.attempts,
                exc,
            )
            return _finish(message, OutboxStatus.FAILED, error)
        message.last_error = error[:MAX_ERROR_CHARS]
        message.updated_at = utcnow()
        session.flush()
        raise DeliveryDeferred(message_id, error) from exc

    message.channel = CHANNEL_SMS
    message.sent_at = utcnow()
    status = _finish(message, OutboxStatus.SENT)
    session.flush()
    return status
