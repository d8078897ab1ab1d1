"""The daily reconciliation job (``payments.reconcile``): each provider's bill against our books.

``payments.reconcile.plan`` decides what to run (cron calls it hourly with no arguments). For each
(channel, day) the bill is downloaded with no transaction open, read, then compared and stored in one
unit of work, so a run is never half stored. A bill that cannot be fetched or read records the run with
its error; provider errors are raised again afterwards so RQ retries the job with the spec's back-off
(a retry redoes only what is still due or was asked for).
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from core.kit.clock import utcnow
from core.models import PaymentChannel
from core.settings import Settings
from payments.providers import ProviderError, SignatureInvalid
from payments.reconcile import fetch, plan, service
from payments.reconcile.errors import BillUnreadable
from workers.context import get_settings, job_session

log = logging.getLogger("zhcg.reconcile")

NOT_RETRIED = frozenset({"provider_not_configured"})


def reconcile(channel: str | None = None, bill_date: str | None = None) -> None:
    run_reconciliation(get_settings(), now=utcnow(), channel=channel, bill_date=bill_date)


def run_reconciliation(
    settings: Settings, *, now: datetime, channel: str | None = None, bill_date: str | None = None
) -> list[int]:
    """Reconcile what is due (or asked for); returns the ids of the runs stored."""
    with job_session() as session:
        todo = plan.targets(session, settings, now=now, channel=channel, bill_date=bill_date)
    run_ids: list[int] = []
    retry: ProviderError | SignatureInvalid | None = None
    for wanted, day in todo:
        try:
            lines = fetch.bill_lines(settings, wanted, day)
        except (ProviderError, SignatureInvalid, BillUnreadable) as exc:
            run_ids.append(_failed(wanted, day, exc, now))
            if not isinstance(exc, BillUnreadable) and exc.code not in NOT_RETRIED:
                retry = retry or exc
            continue
        with job_session() as session:
            run = service.reconcile(session, channel=wanted, bill_date=day, bill_lines=lines, now=now)
            assert run.id is not None
            run_ids.append(run.id)
            log.info(
                "reconciled %s %s: %s bill lines, %s mismatches",
                wanted,
                day,
                run.bill_count,
                run.mismatch_count,
            )
    if retry is not None:
        raise retry
    return run_ids


def _failed(
    channel: PaymentChannel,
    day: date,
    error: ProviderError | SignatureInvalid | BillUnreadable,
    now: datetime,
) -> int:
    log.warning("reconciliation of %s %s failed: %s %s", channel, day, error.code, error.details)
    with job_session() as session:
        run = service.record_failure(session, channel=channel, bill_date=day, error=error, now=now)
        assert run.id is not None
        return run.id
