"""Every query on staff accounts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models import AdminArea, Department, StaffUser


def by_username(session: Session, username: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(col(StaffUser.username) == username)).first()


def department_by_id(session: Session, department_id: int) -> Department | None:
    return session.get(Department, department_id)


def area_by_id(session: Session, area_id: int) -> AdminArea | None:
    return session.get(AdminArea, area_id)


def responsibility_grid_ids(session: Session) -> list[int]:
    from core.models import ResponsibilityGrid

    return [grid_id for grid_id in session.exec(select(ResponsibilityGrid.id)).all() if grid_id is not None]


def assigned_grid_ids(session: Session, staff_id: int) -> set[int]:
    from core.models import SupervisorGrid

    stmt = select(SupervisorGrid.responsibility_grid_id).where(col(SupervisorGrid.staff_id) == staff_id)
    return set(session.exec(stmt).all())


def login_failures_since(
    session: Session, *, username: str, client_ip: str, since: datetime
) -> tuple[int, int]:
    """Failed logins since ``since``: (for this username, from this address)."""
    from core.models import LoginFailure

    def count(*conditions: sa.ColumnElement[bool]) -> int:
        stmt = sa.select(sa.func.count()).select_from(LoginFailure).where(*conditions)
        return int(session.execute(stmt).scalar_one())

    recent = col(LoginFailure.created_at) >= since
    by_user = count(recent, col(LoginFailure.username) == username)
    by_ip = count(recent, col(LoginFailure.client_ip) == client_ip) if client_ip else 0
    return by_user, by_ip


def record_login_failure(session: Session, *, username: str, client_ip: str) -> None:
    from core.models import LoginFailure

    session.add(LoginFailure(username=username[:64], client_ip=client_ip[:64]))
    session.flush()


def by_agent_interface(session: Session, interface: str) -> StaffUser | None:
    stmt = select(StaffUser).where(
        col(StaffUser.agent_interface) == interface, col(StaffUser.active).is_(True)
    )
    return session.exec(stmt.order_by(col(StaffUser.id))).first()
