"""What payment and refund notifications share: the stored body's cap and how a refused or duplicate
notification is recorded and logged (``payments.orders.notify``, ``payments.refunds.notifications``)."""

from __future__ import annotations

import logging

from sqlmodel import Session

from core.models import NotificationVerdict, PaymentNotification

MAX_BODY_BYTES = 64 * 1024


def store_refused(
    session: Session, row: PaymentNotification, reason: str, *, log: logging.Logger, what: str
) -> None:
    """Store ``row`` refused: flagged for staff and without a dedupe key, so a forged or mismatched
    message never shadows the real one. ``what`` names the notification in the log line."""
    row.verdict = NotificationVerdict.REFUSED
    row.reason = reason[:64]
    row.flagged = True
    row.dedupe_key = None
    session.add(row)
    session.flush()
    log.warning("%s %s: refused (%s)", what, row.out_trade_no or "-", row.reason)


def log_duplicate(row: PaymentNotification, *, log: logging.Logger, what: str) -> None:
    log.info("%s %s: duplicate", what, row.out_trade_no)
