"""The staff console's server-side sessions and the audit log.

A console session is a row, not a signed cookie: it can be revoked (logout, password change, an admin
disabling the account) and expires when idle. The cookie carries a random token; only its SHA-256 is
stored, so a leaked database does not hand out sessions. The CSRF token of a session is derived from
its cookie token with the app secret (``admin/security.py``), so it needs no column.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.kit.clock import utcnow
from core.kit.sqltypes import UTCDateTime


class StaffSession(SQLModel, table=True):
    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    staff_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    client_ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=200)


class AuditEntry(SQLModel, table=True):
    """Who did what to which record, from where. Append-only; staff actions and sensitive views."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        sa.Index("ix_audit_entry_staff_at", "staff_id", "at"),
        sa.Index("ix_audit_entry_target", "target_kind", "target_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff_user.id")
    username: str = Field(default="", max_length=64)  # as typed, for failed logins of unknown accounts
    action: str = Field(max_length=48, index=True)
    target_kind: str = Field(default="", max_length=32)
    target_id: str = Field(default="", max_length=64)
    detail: str = Field(default="", max_length=1000)
    client_ip: str = Field(default="", max_length=64)
