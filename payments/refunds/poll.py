"""The poll for refunds the provider has not finished (the cron job ``payments.refund_poll``).

A refund stays PROCESSING when its notification is lost (WeChat Pay) or when Alipay's answer moved no
money; a refund stays REQUESTED when its job was lost or gave up. Every ``poll_after_s`` the poll asks
the provider about each (oldest first, ``poll_batch`` at a time) and sends again the ones the provider
does not know (safe: refunds are keyed on ``out_refund_no``). The provider calls are made before any row
is locked; the outcomes are applied afterwards, each under its row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from core.models import RefundStatus
from core.settings import Settings
from payments.providers import ProviderError, SignatureInvalid
from payments.refunds import provider, repository, service

log = logging.getLogger("zhcg.payments.refunds")


@dataclass(frozen=True)
class PollResult:
    asked: int = 0
    changed: int = 0
    errors: int = 0


def poll_processing(session: Session, settings: Settings, now: datetime) -> PollResult:
    after = timedelta(seconds=settings.payments.poll_after_s)
    ids = repository.unfinished_ids(
        session,
        processing_before=now - after,
        requested_before=now - after,
        limit=settings.payments.poll_batch,
    )
    calls = [
        call for call in (service.refund_call(session, refund_id) for refund_id in ids) if call is not None
    ]
    outcomes: list[tuple[int, service.RefundOutcome]] = []
    errors = 0
    for call in calls:
        try:
            outcome = provider.query(settings, call)
            if outcome.status is RefundStatus.REQUESTED:
                outcome = provider.send(settings, call)
        except (ProviderError, SignatureInvalid) as exc:
            errors += 1
            log.warning("refund %s: the provider could not be asked (%s)", call.out_refund_no, exc.code)
            continue
        outcomes.append((call.refund_id, outcome))
    changed = sum(
        service.apply_outcome(session, refund_id, outcome, now=now) for refund_id, outcome in outcomes
    )
    return PollResult(asked=len(calls), changed=changed, errors=errors)
