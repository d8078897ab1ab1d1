"""Console sessions: a random cookie token whose SHA-256 is a row (revocable, idle timeout, absolute
lifetime). The entry point (the console) sets and clears the cookie."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from core.kit.clock import utcnow
from core.models import StaffSession, StaffUser
from core.settings import Settings

TOKEN_BYTES = 32
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most once a minute per session


@dataclass(frozen=True)
class OpenedSession:
    token: str  # for the cookie; never stored
    session: StaffSession


@dataclass(frozen=True)
class ActiveSession:
    row: StaffSession
    user: StaffUser


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, settings: Settings, user: StaffUser, *, client_ip: str = "", user_agent: str = ""
) -> OpenedSession:
    assert user.id is not None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    row = StaffSession(
        token_hash=_hash(token),
        staff_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.auth.console_session_max_s),
        client_ip=client_ip[:64],
        user_agent=user_agent[:200],
    )
    session.add(row)
    session.flush()
    return OpenedSession(token=token, session=row)


def active(
    session: Session, settings: Settings, token: str, *, now: datetime | None = None
) -> ActiveSession | None:
    """The live session of this cookie token and its (active) account; None when signed out."""
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    row = session.exec(select(StaffSession).where(col(StaffSession.token_hash) == _hash(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > timedelta(seconds=settings.auth.console_session_idle_s):
        return None
    user = session.get(StaffUser, row.staff_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return ActiveSession(row=row, user=user)


def revoke(session: Session, row: StaffSession) -> None:
    row.revoked_at = utcnow()
    session.flush()


def revoke_all(session: Session, staff_id: int, *, except_id: int | None = None) -> int:
    """Sign an account out everywhere (password change, account disabled), but ``except_id``."""
    stmt = update(StaffSession).where(
        col(StaffSession.staff_id) == staff_id, col(StaffSession.revoked_at).is_(None)
    )
    if except_id is not None:
        stmt = stmt.where(col(StaffSession.id) != except_id)
    result = session.execute(stmt.values(revoked_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
