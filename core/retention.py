"""Deleting rows that only exist to count recent requests, once no limit looks at them any more.

``fine_lookup`` rows count public fine lookups per client address (windows up to a day) and
``sms_code`` rows carry login codes and their per-phone send limit (windows up to an hour). Both hold
client addresses or phone numbers: keeping them longer than the limits need would keep personal data
for nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from core.models import FineLookup, SmsCode

FINE_LOOKUP_RETENTION = timedelta(days=2)
SMS_CODE_RETENTION = timedelta(days=2)


def purge(session: Session, *, now: datetime) -> dict[str, int]:
    """Delete what no limit needs any more; returns the number of rows deleted per table."""
    lookups = session.execute(
        delete(FineLookup).where(col(FineLookup.created_at) < now - FINE_LOOKUP_RETENTION)
    )
    codes = session.execute(delete(SmsCode).where(col(SmsCode.created_at) < now - SMS_CODE_RETENTION))
    return {
        "fine_lookup": int(lookups.rowcount or 0),  # type: ignore[attr-defined]
        "sms_code": int(codes.rowcount or 0),  # type: ignore[attr-defined]
    }
