"""Every query on staff accounts."""

from __future__ import annotations

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
