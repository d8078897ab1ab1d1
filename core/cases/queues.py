"""Staff work queues: each lists only the cases this account may act on now."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col

from core.cases import repository
from core.cases.access import visible_condition
from core.cases.workflow import OPEN_STATUSES, RULES, Action
from core.models import Case, CaseStatus, StaffUser


class Queue(StrEnum):
    TO_VERIFY = "to-verify"
    TO_REGISTER = "to-register"
    TO_DISPATCH = "to-dispatch"
    TO_HANDLE = "to-handle"
    TO_CHECK = "to-check"
    TO_APPROVE = "to-approve"
    OVERDUE = "overdue"
    ALL = "all"


NOTHING = sa.false()


def _for_action(staff: StaffUser, action: Action, *statuses: CaseStatus) -> sa.ColumnElement[bool]:
    rule = RULES[action]
    if staff.role not in rule.roles:
        return NOTHING
    condition = col(Case.status).in_(list(statuses))
    if rule.scope == "assigned":
        return sa.and_(condition, col(Case.assigned_supervisor_id) == staff.id)
    if rule.scope == "department":
        return sa.and_(condition, col(Case.department_id) == (staff.department_id or -1))
    return condition


def condition_for(staff: StaffUser, queue: Queue) -> sa.ColumnElement[bool]:
    if queue is Queue.TO_VERIFY:
        return _for_action(staff, Action.VERIFY, CaseStatus.VERIFYING)
    if queue is Queue.TO_REGISTER:
        return _for_action(staff, Action.REGISTER, CaseStatus.PENDING, CaseStatus.ACCEPTED)
    if queue is Queue.TO_DISPATCH:
        return _for_action(staff, Action.DISPATCH, CaseStatus.REGISTERED)
    if queue is Queue.TO_HANDLE:
        return _for_action(staff, Action.HANDLE, CaseStatus.DISPATCHED)
    if queue is Queue.TO_CHECK:
        return sa.or_(
            _for_action(staff, Action.CHECK, CaseStatus.CHECKING),
            _for_action(staff, Action.SEND_CHECK, CaseStatus.HANDLED),
        )
    if queue is Queue.TO_APPROVE:
        if staff.role not in RULES[Action.APPROVE_EXTENSION].roles:
            return NOTHING
        return repository.cases_with_pending_requests()
    if queue is Queue.OVERDUE:
        # Open cases marked overdue that this account can move on (or, for leaders, urge).
        actionable = [condition_for(staff, q) for q in ACTION_QUEUES]
        if staff.role in RULES[Action.URGE].roles:
            actionable.append(sa.true())
        return sa.and_(
            col(Case.overdue).is_(True), col(Case.status).in_(list(OPEN_STATUSES)), sa.or_(*actionable)
        )
    return sa.true()


ACTION_QUEUES = (
    Queue.TO_VERIFY,
    Queue.TO_REGISTER,
    Queue.TO_DISPATCH,
    Queue.TO_HANDLE,
    Queue.TO_CHECK,
    Queue.TO_APPROVE,
)


def list_queue(
    session: Session, staff: StaffUser, queue: Queue, *, limit: int, offset: int
) -> tuple[list[Case], int]:
    order = [col(Case.handle_due_at).asc(), col(Case.id).asc()] if queue is not Queue.ALL else None
    return repository.cases_where(
        session,
        condition_for(staff, queue),
        visible_condition(session, staff),
        limit=limit,
        offset=offset,
        order=order,
    )
