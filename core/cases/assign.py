"""Choosing the supervisor who verifies or checks a case on site: the nearest on-duty supervisor of
the case's responsibility grid, else the nearest on-duty supervisor whose area covers the case."""

from __future__ import annotations

from sqlmodel import Session

from core.cases import repository
from core.geo.coords import haversine_m
from core.models import Case, StaffUser


def _distance(supervisor: StaffUser, case: Case) -> float:
    if supervisor.last_lng is None or supervisor.last_lat is None:
        return float("inf")
    return haversine_m(supervisor.last_lng, supervisor.last_lat, case.lng, case.lat)


def covers(session: Session, supervisor: StaffUser, case: Case) -> bool:
    code = repository.area_code(session, supervisor.area_id)
    return code is None or case.community_code.startswith(code)


def nearest_supervisor(session: Session, case: Case) -> StaffUser | None:
    candidates: list[StaffUser] = []
    if case.responsibility_grid_code:
        candidates = repository.on_duty_supervisors_of_grid(session, case.responsibility_grid_code)
    if not candidates:
        candidates = [s for s in repository.on_duty_supervisors(session) if covers(session, s, case)]
    if not candidates:
        return None
    return min(candidates, key=lambda supervisor: (_distance(supervisor, case), supervisor.id or 0))
