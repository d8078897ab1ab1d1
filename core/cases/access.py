"""What a staff account may see and do: its role, its area and, for some actions, its assignment."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col

from core.cases import repository
from core.cases.errors import ActionForbidden
from core.cases.workflow import RULES, Action
from core.models import Case, StaffRole, StaffUser


def in_area(session: Session, staff: StaffUser, case: Case) -> bool:
    code = repository.area_code(session, staff.area_id)
    return code is None or case.community_code.startswith(code)


def may(session: Session, staff: StaffUser, case: Case, action: Action) -> bool:
    rule = RULES[action]
    if staff.role not in rule.roles or not staff.active:
        return False
    if rule.scope == "assigned":
        return case.assigned_supervisor_id == staff.id  # the centre chose them: their task, wherever it is
    if rule.scope == "department" and (
        staff.department_id is None or staff.department_id != case.department_id
    ):
        return False
    return in_area(session, staff, case)


def require(session: Session, staff: StaffUser, case: Case, action: Action) -> None:
    rule = RULES[action]
    if staff.role not in rule.roles:
        raise ActionForbidden(action.label)
    if not may(session, staff, case, action):
        raise ActionForbidden(action.label, "（该案件不在您的职责范围内）")


def may_view(session: Session, staff: StaffUser, case: Case) -> bool:
    """Handlers see their department's cases, supervisors theirs and their area's, others their area's."""
    if staff.role is StaffRole.HANDLER:
        return staff.department_id is not None and staff.department_id == case.department_id
    if staff.role is StaffRole.SUPERVISOR and case.assigned_supervisor_id == staff.id:
        return True
    return in_area(session, staff, case)


def visible_condition(session: Session, staff: StaffUser) -> sa.ColumnElement[bool]:
    """The SQL form of ``may_view`` for listings."""
    if staff.role is StaffRole.HANDLER:
        return col(Case.department_id) == (staff.department_id if staff.department_id is not None else -1)
    code = repository.area_code(session, staff.area_id)
    area = col(Case.community_code).startswith(code) if code else sa.true()
    if staff.role is StaffRole.SUPERVISOR:
        return sa.or_(area, col(Case.assigned_supervisor_id) == staff.id)
    return area
