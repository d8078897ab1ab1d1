"""Every query on staff accounts."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.models import StaffUser


def by_username(session: Session, username: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(col(StaffUser.username) == username)).first()
