"""Loading the account a token names."""

from __future__ import annotations

from sqlmodel import Session

from core.models import Citizen, StaffUser


def citizen(session: Session, citizen_id: int) -> Citizen | None:
    return session.get(Citizen, citizen_id)


def staff(session: Session, staff_id: int) -> StaffUser | None:
    return session.get(StaffUser, staff_id)
