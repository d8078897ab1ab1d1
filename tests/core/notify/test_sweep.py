"""Messages whose delivery job was lost are queued again by the periodic sweep."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from core.jobs import pending_jobs
from core.kit.clock import utcnow
from core.models import Citizen, OutboxMessage, OutboxStatus
from core.notify.outbox import SWEEP_AFTER, requeue_stale


def test_stale_pending_messages_are_queued_again(session: Session) -> None:
    citizen = Citizen(phone="13900000001")
    session.add(citizen)
    session.flush()
    assert citizen.id is not None
    now = utcnow()
    old = OutboxMessage(citizen_id=citizen.id, event="case_closed", payload='{"case_no": "X"}')
    old.updated_at = now - SWEEP_AFTER - timedelta(minutes=1)
    fresh = OutboxMessage(citizen_id=citizen.id, event="case_registered", payload='{"case_no": "X"}')
    sent = OutboxMessage(
        citizen_id=citizen.id, event="case_dispatched", payload="{}", status=OutboxStatus.SENT
    )
    sent.updated_at = old.updated_at
    session.add_all([old, fresh, sent])
    session.flush()
    assert requeue_stale(session, now=now) == [old.id]
    assert [(job.name, dict(job.kwargs)) for job in pending_jobs(session)] == [
        ("notify.deliver", {"message_id": old.id})
    ]
