"""Writing citizen notifications into the outbox, in the same transaction as the change.

Delivery is a job (``notify.deliver``) sent after commit; at most one message per (case, event,
citizen) ever exists, so a retried transition cannot notify twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from core.jobs import enqueue
from core.models import OutboxMessage
from core.notify import repository


def record(
    session: Session, *, case_id: int | None, event: str, citizen_ids: Iterable[int], payload: dict[str, Any]
) -> list[OutboxMessage]:
    """One pending message per citizen not yet told about this event of this case."""
    recipients = sorted(set(citizen_ids))
    if not recipients:
        return []
    existing = repository.already_told(session, case_id=case_id, event=event, citizen_ids=recipients)
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    messages = [
        OutboxMessage(case_id=case_id, citizen_id=citizen_id, event=event, payload=body)
        for citizen_id in recipients
        if citizen_id not in existing
    ]
    session.add_all(messages)
    session.flush()
    for message in messages:
        enqueue(session, "notify.deliver", message_id=message.id)
    return messages


def record_standalone(
    session: Session, *, event: str, citizen_id: int, payload: dict[str, Any]
) -> OutboxMessage:
    """One pending message not tied to a case (a fine paid or refunded; the payload names the decision).

    No "already told" check: the caller's change happens once (a payment is applied once, a refund
    succeeds once), and a citizen with several decisions must hear about each of them.
    """
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    message = OutboxMessage(case_id=None, citizen_id=citizen_id, event=event, payload=body)
    session.add(message)
    session.flush()
    enqueue(session, "notify.deliver", message_id=message.id)
    return message


SWEEP_AFTER = timedelta(minutes=10)


def requeue_stale(session: Session, *, now: datetime) -> list[int]:
    """Messages still pending long after they were written lost their job (e.g. Redis was down at
    commit): queue them again. Delivery is idempotent, so a message queued twice is sent once."""
    ids = repository.stale_pending_ids(session, older_than=now - SWEEP_AFTER)
    for message_id in ids:
        enqueue(session, "notify.deliver", message_id=message_id)
    return ids
