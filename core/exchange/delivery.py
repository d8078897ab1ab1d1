"""Delivering an order's pushes in order (the work of the ``exchange.push`` job).

Only the first push of an order that is not acknowledged (its *head*) is ever sent: 办结 never leaves
before 派单 is acknowledged. One try is two short transactions, each committed by the job:

1. ``begin`` locks the order, counts the attempt on its head push and sets when the next try is due
   (should this run die mid-call, the sweep finds the push again then);
2. the call runs outside any transaction; ``settle`` records the answer: acknowledged → ``sent`` (the
   next push becomes the head); refused for good → ``failed`` (the order waits for ``pushes.rearm``);
   otherwise it stays ``pending`` with the error, and the job fails so the queue retries it.

A push may reach the platform twice (a run dying between the answer and its commit, two jobs for one
order): it carries a stable ``push_id`` the platform deduplicates on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from core.exchange import repository
from core.exchange.client import ExchangeCallError
from core.exchange.pushes import retry_delay
from core.models import ExchangePushStatus

MAX_ERROR_CHARS = 500


class PushDeferred(Exception):
    """A retryable failure: the job raises it (after committing the counted attempt) so it runs again."""

    def __init__(self, push_id: int, error: str) -> None:
        super().__init__(f"exchange push {push_id} not acknowledged yet: {error}")
        self.push_id = push_id


@dataclass(frozen=True)
class PushAttempt:
    push_id: int
    body: dict[str, Any]


def push_id_of(push_pk: int) -> str:
    return f"zhcg-{push_pk}"


def begin(session: Session, order_id: int, *, now: datetime) -> PushAttempt | None:
    """Claim a try of the order's head push; None when nothing is sendable (all sent, or blocked by a
    failed push)."""
    if repository.order_for_update(session, order_id) is None:
        return None
    head = repository.head_push(session, order_id)
    if head is None or head.status is not ExchangePushStatus.PENDING:
        return None
    assert head.id is not None
    head.attempts += 1
    head.next_attempt_at = now + retry_delay(head.attempts)
    head.updated_at = now
    session.add(head)
    session.flush()
    body = json.loads(head.payload)
    body["push_id"] = push_id_of(head.id)
    return PushAttempt(head.id, body)


def settle(
    session: Session, push_id: int, error: ExchangeCallError | None, *, now: datetime
) -> ExchangePushStatus:
    """Record the platform's answer to one try; the push's status afterwards."""
    push = repository.push_for_update(session, push_id)
    assert push is not None
    if push.status is ExchangePushStatus.SENT:
        return push.status  # another run got it acknowledged meanwhile
    if error is None:
        push.status, push.acknowledged_at, push.last_error = ExchangePushStatus.SENT, now, ""
        push.next_attempt_at = None
    else:
        push.last_error = str(error)[:MAX_ERROR_CHARS]
        if not error.retryable:
            push.status, push.next_attempt_at = ExchangePushStatus.FAILED, None
    push.updated_at = now
    session.add(push)
    session.flush()
    return push.status
