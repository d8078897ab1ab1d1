"""The poll for refunds the provider has not finished (the cron job ``payments.refund_poll``).

A refund stays PROCESSING when its notification is lost (WeChat Pay) or when Alipay's answer moved no
money; a refund stays REQUESTED when its job was lost or gave up. Every ``poll_after_s`` the poll asks
the provider about each (oldest first, ``poll_batch`` at a time) and sends again the ones the provider
does not know (safe: refunds are keyed on ``out_refund_no``).

Transactions (the caller passes ``unit_of_work``; a job passes ``workers.context.job_session``, which
commits): the refunds to ask about are read in one short transaction; then, per refund, the provider is
called with no transaction open (and so no row lock held), and its answer is applied in a transaction of
its own, under the refund's row lock. One refund's provider trouble or database error (a deadlock, a
serialization failure) is counted and logged and never undoes or stops the others: that refund is asked
again by the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from core.models import RefundStatus
from core.settings import Settings
from payments.providers import ProviderError, SignatureInvalid
from payments.refunds import provider, repository, service
from payments.refunds.errors import RefundNotFound

log = logging.getLogger("zhcg.payments.refunds")

UnitOfWork = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class PollResult:
    asked: int = 0
    changed: int = 0
    errors: int = 0


def _due(settings: Settings, unit_of_work: UnitOfWork, now: datetime) -> list[service.RefundCall]:
    after = timedelta(seconds=settings.payments.poll_after_s)
    with unit_of_work() as session:
        ids = repository.unfinished_ids(
            session,
            processing_before=now - after,
            requested_before=now - after,
            limit=settings.payments.poll_batch,
        )
        return [
            call
            for call in (service.refund_call(session, refund_id) for refund_id in ids)
            if call is not None
        ]


def _ask(settings: Settings, call: service.RefundCall) -> service.RefundOutcome:
    """The provider's word on the refund; a refund it does not know is sent (again). Raises provider
    trouble."""
    outcome = provider.query(settings, call)
    if outcome.status is RefundStatus.REQUESTED:
        outcome = provider.send(settings, call)
    return outcome


def poll_processing(settings: Settings, *, unit_of_work: UnitOfWork, now: datetime) -> PollResult:
    """Ask the providers about unfinished refunds and apply their answers (see the module docstring)."""
    calls = _due(settings, unit_of_work, now)
    changed = errors = 0
    for call in calls:
        try:
            outcome = _ask(settings, call)
        except (ProviderError, SignatureInvalid) as exc:
            errors += 1
            log.warning("refund %s: the provider could not be asked (%s)", call.out_refund_no, exc.code)
            continue
        try:
            with unit_of_work() as session:
                changed += service.apply_outcome(session, call.refund_id, outcome, now=now)
        except RefundNotFound:
            log.warning("refund %s disappeared while its provider was asked", call.out_refund_no)
        except DBAPIError as exc:  # rolled back by the unit of work; the next run asks again
            errors += 1
            log.warning(
                "refund %s: the provider's answer (%s) could not be stored: %s",
                call.out_refund_no,
                outcome.status,
                type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
            )
    return PollResult(asked=len(calls), changed=changed, errors=errors)
