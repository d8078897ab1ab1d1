"""Rows kept only for rate limits are purged once no limit looks at them."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from core import retention
from core.kit.clock import utcnow
from core.models import FineLookup, SmsCode


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

    assert retention.purge(session, now=now) == {"fine_lookup": 1, "sms_code": 1}
    assert [row.created_at for row in session.exec(select(FineLookup)).all()] == [recent]
    assert [row.code_hash for row in session.exec(select(SmsCode)).all()] == ["y"]
    assert retention.purge(session, now=now) == {"fine_lookup": 0, "sms_code": 0}
