"""Deleting rows once nothing needs them any more.

- ``fine_lookup`` rows count public fine lookups per client address (windows up to a day) and
  ``sms_code`` rows carry login codes and their per-phone send limit (windows up to an hour). Both hold
  client addresses or phone numbers: keeping them longer than the limits need would keep personal data
  for nothing.
- ``payment_notification`` rows keep what WeChat Pay and Alipay (or anybody) POSTed to the notify
  endpoints, raw bodies and client addresses included. A **refused** notification that staff have
  **reviewed** is deleted ``REFUSED_NOTIFICATION_RETENTION`` after it was received: it changed nothing,
  and the review is over. Applied and ignored notifications are kept: they are the evidence of a
  payment or a refund. A refused one nobody has reviewed yet stays until it is reviewed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from core.models import FineLookup, NotificationVerdict, PaymentNotification, SmsCode

FINE_LOOKUP_RETENTION = timedelta(days=2)
SMS_CODE_RETENTION = timedelta(days=2)
REFUSED_NOTIFICATION_RETENTION = timedelta(days=180)


def purge(session: Session, *, now: datetime) -> dict[str, int]:
    """Delete what nothing needs any more; returns the number of rows deleted per table."""
    lookups = session.execute(
        delete(FineLookup).where(col(FineLookup.created_at) < now - FINE_LOOKUP_RETENTION)
    )
    codes = session.execute(delete(SmsCode).where(col(SmsCode.created_at) < now - SMS_CODE_RETENTION))
    notifications = session.execute(
        delete(PaymentNotification).where(
            col(PaymentNotification.verdict) == NotificationVerdict.REFUSED,
            col(PaymentNotification.reviewed_at).is_not(None),
            col(PaymentNotification.received_at) < now - REFUSED_NOTIFICATION_RETENTION,
        )
    )
    return {
        "fine_lookup": int(lookups.rowcount or 0),  # type: ignore[attr-defined]
        "sms_code": int(codes.rowcount or 0),  # type: ignore[attr-defined]
        "payment_notification": int(notifications.rowcount or 0),  # type: ignore[attr-defined]
    }
