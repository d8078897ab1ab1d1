"""Staff work queues: each lists only the cases this account may act on now.

Due soon (即将超期): an open case whose *current* deadline — the deadline of the stage it is in
(register for pending/verifying/accepted, dispatch for registered, handle for dispatched, check for
handled/checking; a suspended case's clock is stopped, so it has none) — has not passed yet but falls
within the next ``DUE_SOON_WORK_HOURS`` working hours on the working-time calendar (holidays and 调休
included). Working time is monotonic, so this is one moment computed per request (``due_soon_until``)
and a plain range on each stage's deadline column. The centre's own stage limits (register 1, dispatch
0.5 working hours by default) are shorter than that, so such cases are due soon from the start: they
are. No setting existed for this threshold, hence the module constant.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col

from core.cases import deadlines, listing, repository
from core.cases.access import visible_condition
from core.cases.workflow import OPEN_STATUSES, RULES, Action
from core.kit.clock import utcnow
from core.models import Case, CaseStatus, StaffUser
from core.settings import Settings, get_settings

DUE_SOON_WORK_HOURS = 4.0


class Queue(StrEnum):
    TO_VERIFY = "to-verify"
    TO_REGISTER = "to-register"
    TO_DISPATCH = "to-dispatch"
    TO_HANDLE = "to-handle"
    TO_CHECK = "to-check"
    TO_APPROVE = "to-approve"
    DUE_SOON = "due-soon"
    OVERDUE = "overdue"
    ALL = "all"

    @property
    def label(self) -> str:
        return QUEUE_LABELS[self]


QUEUE_LABELS: dict[Queue, str] = {
    Queue.TO_VERIFY: "待核实",
    Queue.TO_REGISTER: "待立案",
    Queue.TO_DISPATCH: "待派遣",
    Queue.TO_HANDLE: "待处置",
    Queue.TO_APPROVE: "待审批",
    Queue.TO_CHECK: "待核查",
    Queue.DUE_SOON: "即将超期",
    Queue.OVERDUE: "已超期",
    Queue.ALL: "全部案件",
}

# The actions that put a case in each action queue (a role holding none of them has no such queue).
QUEUE_ACTIONS: dict[Queue, tuple[Action, ...]] = {
    Queue.TO_VERIFY: (Action.VERIFY,),
    Queue.TO_REGISTER: (Action.REGISTER,),
    Queue.TO_DISPATCH: (Action.DISPATCH,),
    Queue.TO_HANDLE: (Action.HANDLE,),
    Queue.TO_APPROVE: (Action.APPROVE_EXTENSION, Action.APPROVE_SUSPENSION),
    Queue.TO_CHECK: (Action.CHECK, Action.SEND_CHECK),
}

NOTHING = sa.false()


def current_deadline(case: Case) -> datetime | None:
    """The deadline of the stage the case is in (None when suspended or finished)."""
    stage = listing.STAGE_OF.get(case.status)
    return getattr(case, f"{stage}_due_at") if stage else None


def due_soon_until(session: Session, settings: Settings, now: datetime) -> datetime:
    """The end of the due-soon window starting at ``now`` (see the module docstring)."""
    return deadlines.work_hours_after(session, settings, now, DUE_SOON_WORK_HOURS)


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


def _actionable(staff: StaffUser) -> sa.ColumnElement[bool]:
    """Open cases this account can move on (or, for roles that may urge, any open case it sees)."""
    actionable = [condition_for(staff, q) for q in ACTION_QUEUES]
    if staff.role in RULES[Action.URGE].roles:
        actionable.append(sa.true())
    return sa.and_(col(Case.status).in_(list(OPEN_STATUSES)), sa.or_(*actionable))


def due_soon_condition(now: datetime, until: datetime) -> sa.ColumnElement[bool]:
    """The case's current deadline lies in [now, until) (a range of the deadline sort's index)."""
    key = listing.deadline_key()
    return sa.and_(key >= now, key < until)


def condition_for(
    staff: StaffUser, queue: Queue, *, window: tuple[datetime, datetime] | None = None
) -> sa.ColumnElement[bool]:
    """Which cases belong to ``queue`` for this account (``window`` = due-soon [now, until))."""
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
        return sa.and_(col(Case.overdue).is_(True), _actionable(staff))
    if queue is Queue.DUE_SOON:
        if window is None:
            raise ValueError("the due-soon queue needs its window (now, until)")
        return sa.and_(due_soon_condition(*window), _actionable(staff))
    return sa.true()


ACTION_QUEUES = (
    Queue.TO_VERIFY,
    Queue.TO_REGISTER,
    Queue.TO_DISPATCH,
    Queue.TO_HANDLE,
    Queue.TO_CHECK,
    Queue.TO_APPROVE,
)

# The order of the console's tabs.
CONSOLE_ORDER = (
    Queue.TO_VERIFY,
    Queue.TO_REGISTER,
    Queue.TO_DISPATCH,
    Queue.TO_HANDLE,
    Queue.TO_APPROVE,
    Queue.TO_CHECK,
    Queue.DUE_SOON,
    Queue.OVERDUE,
    Queue.ALL,
)


def has_queue(staff: StaffUser, queue: Queue) -> bool:
    """Whether this role has such a queue at all (a role without it does not see the tab)."""
    if queue in QUEUE_ACTIONS:
        return any(staff.role in RULES[action].roles for action in QUEUE_ACTIONS[queue])
    if queue in (Queue.DUE_SOON, Queue.OVERDUE):
        return staff.role in RULES[Action.URGE].roles or any(has_queue(staff, q) for q in ACTION_QUEUES)
    return True


def queues_of(staff: StaffUser) -> list[Queue]:
    """The queues of this account, in the console's order (``ALL`` last: every case it may view)."""
    return [queue for queue in CONSOLE_ORDER if has_queue(staff, queue)]


def scoped_condition(
    session: Session, staff: StaffUser, queue: Queue, *, window: tuple[datetime, datetime] | None = None
) -> sa.ColumnElement[bool]:
    """The queue's condition within what the account may view (area, department, assignment)."""
    return sa.and_(condition_for(staff, queue, window=window), visible_condition(session, staff))


def counts(
    session: Session,
    staff: StaffUser,
    queues: list[Queue],
    *,
    window: tuple[datetime, datetime],
    cap: int,
) -> dict[Queue, int]:
    """How many cases each queue holds, counted up to ``cap + 1`` (more than ``cap`` = "cap+")."""
    conditions = {queue: scoped_condition(session, staff, queue, window=window) for queue in queues}
    return listing.capped_counts(session, conditions, cap=cap)


def list_queue(
    session: Session,
    staff: StaffUser,
    queue: Queue,
    *,
    limit: int,
    offset: int,
    settings: Settings | None = None,
) -> tuple[list[Case], int]:
    order = [col(Case.handle_due_at).asc(), col(Case.id).asc()] if queue is not Queue.ALL else None
    window = None
    if queue is Queue.DUE_SOON:
        now = utcnow()
        window = (now, due_soon_until(session, settings or get_settings(), now))
    return repository.cases_where(
        session,
        condition_for(staff, queue, window=window),
        visible_condition(session, staff),
        limit=limit,
        offset=offset,
        order=order,
    )
