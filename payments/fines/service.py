"""The public lookup of a penalty decision by decision number and party name.

Privacy: both must match, and a wrong name answers exactly like an unknown number (``FineNotFound``,
after the same query), so the lookup cannot be used to find out which numbers exist or whose they are.
A cancelled decision answers with status ``cancelled`` (only when both match). The masked identity
number and the phone are never answered. Lookups are counted per client address in the database
(``fine_lookup``; what was asked is not stored) and limited per minute and per day.
"""

from __future__ import annotations

import hmac
import math
import unicodedata
from datetime import datetime, timedelta

from sqlmodel import Session

from core.kit.clock import to_local
from core.models import FineStatus, PenaltyDecision
from payments.fines import repository
from payments.fines.errors import FineLookupRateLimited, FineNotFound
from payments.fines.fees import Deferral, charge, yuan
from payments.fines.schemas import FineOut

# (reason, window, lookups allowed in it) per client address.
LIMITS: tuple[tuple[str, timedelta, int], ...] = (
    ("per_minute", timedelta(minutes=1), 10),
    ("per_day", timedelta(days=1), 100),
)


def normalize_name(name: str) -> str:
    """Names are compared after NFKC (full-width letters) and trimming."""
    return unicodedata.normalize("NFKC", name).strip()


def _check_limits(session: Session, *, client_ip: str, now: datetime) -> None:
    for reason, window, limit in LIMITS:
        since = now - window
        count = repository.count_lookups_since(session, client_ip=client_ip, since=since)
        if count >= limit:
            oldest = repository.nth_lookup_time_since(
                session, client_ip=client_ip, since=since, offset=count - limit
            )
            wait = (oldest + window - now) if oldest is not None else window
            raise FineLookupRateLimited(max(1, math.ceil(wait.total_seconds())), reason)


def fine_out(decision: PenaltyDecision, *, now: datetime) -> FineOut:
    as_of = to_local(now).date()
    deferral = (
        Deferral(until=decision.deferral_until, start=decision.deferral_from)
        if decision.deferral_until is not None
        else None
    )
    result = charge(amount_fen=decision.amount_fen, due_on=decision.due_on, as_of=as_of, deferral=deferral)
    payable = decision.status in (FineStatus.UNPAID, FineStatus.DEFERRED)
    return FineOut(
        decision_no=decision.decision_no,
        status=decision.status,
        amount_fen=decision.amount_fen,
        amount_yuan=yuan(decision.amount_fen),
        late_days=result.late_days if payable else 0,
        late_fee_fen=result.late_fee_fen if payable else None,
        late_fee_yuan=yuan(result.late_fee_fen) if payable else None,
        total_fen=result.total_fen if payable else None,
        total_yuan=yuan(result.total_fen) if payable else None,
        served_on=decision.served_on,
        due_on=decision.due_on,
        deferral_from=decision.deferral_from,
        deferral_until=decision.deferral_until,
        instalment_note=decision.instalment_note,
        as_of=as_of,
    )


def lookup(session: Session, *, decision_no: str, party_name: str, client_ip: str, now: datetime) -> FineOut:
    """The decision when number and name both match; ``FineNotFound`` otherwise.

    The lookup is counted before the answer: the caller must commit its unit of work also when
    ``FineNotFound`` is raised, or failed guesses would not count toward the limit.
    """
    client_ip = client_ip[:64]
    repository.lock_client(session, client_ip)
    _check_limits(session, client_ip=client_ip, now=now)
    repository.add_lookup(session, client_ip=client_ip, at=now)
    decision = repository.by_decision_no(session, decision_no.strip())
    stored = normalize_name(decision.party_name) if decision is not None else ""
    given = normalize_name(party_name)
    # Compared in constant time whether or not the number exists (an empty name never matches).
    matches = hmac.compare_digest(stored.encode(), given.encode()) and bool(given)
    if decision is None or not matches:
        raise FineNotFound()
    return fine_out(decision, now=now)
