"""Delivering one outbox message (the work of the ``notify.deliver`` job): a WeChat subscribe message
when the citizen consented to one, otherwise (or when WeChat answers 43101) an SMS.

A run is up to three short transactions, each committed by the job (services never commit):

1. ``begin`` locks the message, counts the attempt and decides whether WeChat is tried now. To try it,
   one consent is spent and a delivery row (message, ``wechat``) in state ``sending`` is written. That
   row is committed **before** the call and is what makes WeChat at-most-once: WeChat has no
   idempotency key, so a later run that still finds ``sending`` knows an earlier run died mid-call and
   never calls again (the row becomes ``unknown``; the citizen gets the SMS instead).
2. The WeChat call runs outside any transaction; ``settle_wechat`` records its outcome: ``sent``
   finishes the message; ``refused`` (43101: no consent left) zeroes our consent count; a transient
   failure gives the consent back and defers the whole message to the job's next retry; a permanent
   error or an unknown outcome goes on to SMS.
3. ``deliver_sms`` texts the citizen's phone. The SMS gateway deduplicates on ``out_id``
   (``outbox-<id>``), which covers a crash between its answer and the commit.

Message outcomes: ``sent`` (``channel`` says which); ``skipped`` when no channel reaches the citizen;
``failed`` on a permanent error or when the last attempt also failed; otherwise ``DeliveryDeferred`` is
raised so the job queue retries later (the job commits the counted attempt first, then re-raises).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from core.citizens import repository as citizens_repository
from core.jobs import JOBS
from core.kit.clock import utcnow
from core.models import DeliveryChannel, DeliveryStatus, OutboxDelivery, OutboxMessage, OutboxStatus
from core.notify import repository, wechat_message
from core.notify.sms import SmsError, SmsGateway, mask_phone
from core.notify.templates import TemplateError, render
from core.settings import SubscribeTemplate
from core.wechat import consents
from core.wechat.api import Outcome, WechatCallError

log = logging.getLogger("zhcg.notify")

CHANNEL_SMS = DeliveryChannel.SMS.value
CHANNEL_WECHAT = DeliveryChannel.WECHAT.value
# The first run and every retry of the job spec.
MAX_ATTEMPTS = 1 + len(JOBS["notify.deliver"].retries)
MAX_ERROR_CHARS = 500


class DeliveryDeferred(Exception):
    """A retryable failure: the job raises it (after committing the counted attempt) so it runs again."""

    def __init__(self, message_id: int, error: str) -> None:
        super().__init__(f"outbox message {message_id} not delivered yet: {error}")
        self.message_id = message_id
        self.error = error


@dataclass(frozen=True)
class WechatAttempt:
    """A subscribe message to send now; its consent is spent and its ``sending`` row written."""

    message_id: int
    openid: str = field(repr=False)
    template_id: str
    page: str
    data: dict[str, str]


@dataclass(frozen=True)
class Begun:
    done: bool  # nothing more to do in this run (not pending, unknown or unwritable)
    wechat: WechatAttempt | None = None


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


def _mark(
    session: Session,
    message_id: int,
    channel: DeliveryChannel,
    status: DeliveryStatus,
    *,
    row: OutboxDelivery | None = None,
    template_id: str = "",
    detail: str = "",
) -> OutboxDelivery:
    row = row or repository.delivery(session, message_id, channel)
    if row is None:
        row = OutboxDelivery(message_id=message_id, channel=channel, status=status)
        session.add(row)
    row.status = status
    row.template_id = template_id or row.template_id
    row.detail = detail[:MAX_ERROR_CHARS]
    row.updated_at = utcnow()
    session.flush()
    return row


def begin(
    session: Session,
    message_id: int,
    *,
    templates: Mapping[str, SubscribeTemplate],
    wechat_enabled: bool,
) -> Begun:
    """Start a run: count the attempt and, when WeChat can carry this message, claim it."""
    # A primary-key lookup, locked until commit (PostgreSQL; SQLite serialises writers anyway).
    message = repository.for_update(session, message_id)
    if message is None:
        log.warning("outbox message %s does not exist", message_id)
        return Begun(done=True)
    if message.status is not OutboxStatus.PENDING:
        return Begun(done=True)
    message.attempts += 1
    message.updated_at = utcnow()
    try:
        payload = _payload(message)
        render(message.event, payload)
    except TemplateError as exc:
        log.error("outbox message %s cannot be written: %s", message_id, exc)
        _finish(message, OutboxStatus.FAILED, f"template: {exc}")
        return Begun(done=True)

    row = repository.delivery(session, message_id, DeliveryChannel.WECHAT)
    if row is not None and row.status is DeliveryStatus.SENDING:
        # An earlier run claimed WeChat and never recorded the answer: it may have been delivered.
        _mark(
            session,
            message_id,
            DeliveryChannel.WECHAT,
            DeliveryStatus.UNKNOWN,
            row=row,
            detail="the run sending it ended without an answer",
        )
        return Begun(done=False)
    if row is not None and row.status is not DeliveryStatus.RETRY:
        return Begun(done=False)  # WeChat is settled for this message: SMS decides

    template = templates.get(message.event)
    citizen = citizens_repository.citizen_by_id(session, message.citizen_id)
    if not (wechat_enabled and template is not None and citizen is not None and citizen.openid):
        if row is not None:  # was retrying, but WeChat is no longer configured
            _mark(
                session,
                message_id,
                DeliveryChannel.WECHAT,
                DeliveryStatus.FAILED,
                row=row,
                detail="WeChat is no longer configured for this event",
            )
        return Begun(done=False)
    if not consents.spend(session, citizen_id=message.citizen_id, template_id=template.template_id):
        _mark(
            session,
            message_id,
            DeliveryChannel.WECHAT,
            DeliveryStatus.NO_CONSENT,
            row=row,
            template_id=template.template_id,
            detail="no one-time consent recorded",
        )
        return Begun(done=False)
    _mark(
        session,
        message_id,
        DeliveryChannel.WECHAT,
        DeliveryStatus.SENDING,
        row=row,
        template_id=template.template_id,
    )
    known = wechat_message.facts(message.event, payload, written_at=message.created_at)
    return Begun(
        done=False,
        wechat=WechatAttempt(
            message_id=message_id,
            openid=citizen.openid,
            template_id=template.template_id,
            page=wechat_message.page(template, known["case_no"]),
            data=wechat_message.template_data(template, known),
        ),
    )


def settle_wechat(
    session: Session, message_id: int, error: WechatCallError | None, *, final_attempt: bool = False
) -> bool:
    """Record the WeChat call's outcome; True when the message is finished (sent by WeChat)."""
    message = repository.for_update(session, message_id)
    row = repository.delivery(session, message_id, DeliveryChannel.WECHAT)
    if message is None or row is None or row.status is not DeliveryStatus.SENDING:
        return message is None or message.status is not OutboxStatus.PENDING
    if error is None:
        _mark(session, message_id, DeliveryChannel.WECHAT, DeliveryStatus.SENT, row=row)
        message.channel = CHANNEL_WECHAT
        message.sent_at = utcnow()
        _finish(message, OutboxStatus.SENT)
        session.flush()
        return True

    detail = f"wechat: {error}"
    citizen_id, template_id = message.citizen_id, row.template_id
    if error.outcome is Outcome.REFUSED:
        consents.exhaust(session, citizen_id=citizen_id, template_id=template_id)
        _mark(session, message_id, DeliveryChannel.WECHAT, DeliveryStatus.REFUSED, row=row, detail=detail)
    elif error.outcome is Outcome.UNKNOWN:
        log.warning("outbox message %s: WeChat outcome unknown (%s); not sent again", message_id, error)
        _mark(session, message_id, DeliveryChannel.WECHAT, DeliveryStatus.UNKNOWN, row=row, detail=detail)
    elif error.outcome is Outcome.REJECTED or final_attempt or message.attempts >= MAX_ATTEMPTS:
        consents.give_back(session, citizen_id=citizen_id, template_id=template_id)
        log.error("outbox message %s: WeChat failed for good: %s", message_id, error)
        _mark(session, message_id, DeliveryChannel.WECHAT, DeliveryStatus.FAILED, row=row, detail=detail)
    else:
        consents.give_back(session, citizen_id=citizen_id, template_id=template_id)
        _mark(session, message_id, DeliveryChannel.WECHAT, DeliveryStatus.RETRY, row=row, detail=detail)
        message.last_error = detail[:MAX_ERROR_CHARS]
        session.flush()
        raise DeliveryDeferred(message_id, detail)
    message.last_error = detail[:MAX_ERROR_CHARS]
    session.flush()
    return False


def deliver_sms(
    session: Session, message_id: int, *, gateway: SmsGateway, final_attempt: bool = False
) -> OutboxStatus | None:
    """Text the message to the citizen's phone (after ``begin``); its status afterwards."""
    message = repository.for_update(session, message_id)
    if message is None:
        return None
    if message.status is not OutboxStatus.PENDING:
        return message.status
    try:
        text = render(message.event, _payload(message))
    except TemplateError as exc:
        return _finish(message, OutboxStatus.FAILED, f"template: {exc}")

    citizen = citizens_repository.citizen_by_id(session, message.citizen_id)
    phone = citizen.phone if citizen is not None else None
    if not phone:
        wechat = repository.delivery(session, message_id, DeliveryChannel.WECHAT)
        if wechat is not None and wechat.status is DeliveryStatus.UNKNOWN:
            return _finish(message, OutboxStatus.FAILED, "WeChat outcome unknown and no phone number for SMS")
        if wechat is not None:
            return _finish(message, OutboxStatus.SKIPPED, f"no phone number for SMS; {wechat.detail}")
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
            _mark(session, message_id, DeliveryChannel.SMS, DeliveryStatus.FAILED, detail=error)
            return _finish(message, OutboxStatus.FAILED, error)
        _mark(session, message_id, DeliveryChannel.SMS, DeliveryStatus.RETRY, detail=error)
        message.last_error = error[:MAX_ERROR_CHARS]
        message.updated_at = utcnow()
        session.flush()
        raise DeliveryDeferred(message_id, error) from exc

    _mark(session, message_id, DeliveryChannel.SMS, DeliveryStatus.SENT)
    message.channel = CHANNEL_SMS
    message.sent_at = utcnow()
    status = _finish(message, OutboxStatus.SENT)
    session.flush()
    return status


def deliver(
    session: Session, message_id: int, *, gateway: SmsGateway, final_attempt: bool = False
) -> OutboxStatus | None:
    """One SMS-only run in a single transaction (WeChat not configured): ``begin`` + ``deliver_sms``."""
    begun = begin(session, message_id, templates={}, wechat_enabled=False)
    if begun.done:
        message = repository.for_update(session, message_id)
        return message.status if message is not None else None
    return deliver_sms(session, message_id, gateway=gateway, final_attempt=final_attempt)
