"""Rows kept only for rate limits are purged once no limit looks at them; refused payment notifications
once staff reviewed them and 180 days passed (applied and ignored ones are the payments' evidence)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import Session, col, select

from core import retention
from core.kit.clock import utcnow
from core.models import (
    FineLookup,
    NotificationVerdict,
    PaymentChannel,
    PaymentNotification,
    SmsCode,
)


def test_purge_keeps_what_the_limits_still_count(session: Session) -> None:
    now = utcnow()
    old, recent = now - timedelta(days=3), now - timedelta(hours=20)
    session.add_all(
        [
            FineLookup(client_ip="10.0.0.1", created_at=old),
            FineLookup(client_ip="10.0.0.1", created_at=recent),
            SmsCode(phone="13800000000", code_hash="x", expires_at=old, created_at=old, updated_at=old),
            SmsCode(phone="13800000000", code_hash="y", expires_at=now, created_at=recent, updated_at=recent),
        ]
    )
    session.flush()

    deleted = retention.purge(session, now=now)
    assert (deleted["fine_lookup"], deleted["sms_code"]) == (1, 1)
    assert [row.created_at for row in session.exec(select(FineLookup)).all()] == [recent]
    assert [row.code_hash for row in session.exec(select(SmsCode)).all()] == ["y"]
    again = retention.purge(session, now=now)
    assert (again["fine_lookup"], again["sms_code"]) == (0, 0)


def test_only_reviewed_refused_notifications_older_than_180_days_are_deleted(session: Session) -> None:
    now = utcnow()
    old = now - retention.REFUSED_NOTIFICATION_RETENTION - timedelta(days=1)
    young = now - retention.REFUSED_NOTIFICATION_RETENTION + timedelta(days=1)
    tag = secrets.token_hex(6)
    rows = {
        # name: (verdict, received_at, reviewed)
        "refused_reviewed_old": (NotificationVerdict.REFUSED, old, True),
        "refused_reviewed_young": (NotificationVerdict.REFUSED, young, True),
        "refused_unreviewed_old": (NotificationVerdict.REFUSED, old, False),
        "applied_old": (NotificationVerdict.APPLIED, old, False),
        "ignored_old": (NotificationVerdict.IGNORED, old, True),
    }
    for name, (verdict, received_at, reviewed) in rows.items():
        session.add(
            PaymentNotification(
                channel=PaymentChannel.WECHAT,
                out_trade_no=f"{tag}{name}"[:64],
                verdict=verdict,
                flagged=verdict is NotificationVerdict.REFUSED,
                body='{"forged": true}',
                received_at=received_at,
                reviewed_at=received_at + timedelta(hours=1) if reviewed else None,
            )
        )
    session.flush()

    assert retention.purge(session, now=now)["payment_notification"] == 1

    left = session.exec(
        select(PaymentNotification.out_trade_no).where(col(PaymentNotification.out_trade_no).startswith(tag))
    ).all()
    assert sorted(number.removeprefix(tag) for number in left) == sorted(set(rows) - {"refused_reviewed_old"})
    assert retention.purge(session, now=now)["payment_notification"] == 0
