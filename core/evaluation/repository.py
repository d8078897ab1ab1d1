"""Every query of the evaluation: SQL aggregates over indexed time ranges, grouped by the dimension.

Indexes these queries rely on (see docs/evaluation.md): ``case (created_at)``,
``case_event (action, created_at)``, ``case (handle_due_at)``, ``case_event (case_id, action)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from core.cases.workflow import Action
from core.evaluation import sqlfn
from core.evaluation.dimensions import Dimension, Group
from core.evaluation.periods import Period
from core.models import (
    AdminArea,
    AreaLevel,
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    Channel,
    Department,
    StaffRole,
    StaffUser,
)
from core.models.areas import ResponsibilityGrid

Counts = dict[str, dict[str, float]]

CASES = cast(sa.Table, Case.__table__)  # type: ignore[attr-defined]
EVENTS = cast(sa.Table, CaseEvent.__table__)  # type: ignore[attr-defined]

OVERALL = "all"
STAFF_ACTIONS = frozenset(action.value for action in Action)
DECISIONS = frozenset(
    {
        Action.APPROVE_EXTENSION.value,
        Action.REJECT_EXTENSION.value,
        Action.APPROVE_SUSPENSION.value,
        Action.REJECT_SUSPENSION.value,
    }
)
GONE = (CaseStatus.VOIDED.value, CaseStatus.MERGED.value)

AREA_COLUMN = {
    Dimension.DISTRICT: "district_code",
    Dimension.STREET: "street_code",
    Dimension.COMMUNITY: "community_code",
    Dimension.GRID: "responsibility_grid_code",
}
AREA_LEVEL = {
    Dimension.DISTRICT: AreaLevel.DISTRICT,
    Dimension.STREET: AreaLevel.STREET,
    Dimension.COMMUNITY: AreaLevel.COMMUNITY,
}
ROLE_OF = {
    Dimension.OPERATOR: StaffRole.OPERATOR,
    Dimension.SHIFT_LEAD: StaffRole.SHIFT_LEAD,
    Dimension.DISPATCHER: StaffRole.DISPATCHER,
    Dimension.SUPERVISOR: StaffRole.SUPERVISOR,
}


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True)
class Target:
    """What the rows are: a dimension, or None for one overall row keyed ``"all"``."""

    dimension: Dimension | None
    group: Group | None

    @property
    def is_area(self) -> bool:
        return self.dimension in AREA_COLUMN


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return sa.and_(column >= period.start_at, column < period.end_at)


def _count_if(condition: Any) -> ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _distinct_cases_if(condition: Any) -> ColumnElement[Any]:
    return sa.func.count(sa.distinct(sa.case((condition, EVENTS.c.case_id))))


def _rows(result: Iterable[Any], names: list[str]) -> Counts:
    counts: Counts = {}
    for row in result:
        key, *values = row
        if key is None:
            continue
        counts[str(key)] = {name: float(value or 0) for name, value in zip(names, values, strict=True)}
    return counts


# ------------------------------------------------------------------ reports (by case.created_at)


def report_counts(
    session: Session, *, target: Target, period: Period, scope: ColumnElement[bool], needed: frozenset[str]
) -> Counts:
    """上报数, 监督举报数, 有效上报数 of the cases reported in the period."""
    filters: list[Any] = [_in(CASES.c.created_at, period), scope]
    if target.dimension is None:
        key: Any = sa.literal(OVERALL)
    elif target.is_area:
        key = CASES.c[AREA_COLUMN[target.dimension]]
    elif target.group is Group.SUPERVISOR:
        key = CASES.c.reporter_staff_id
        filters.append(CASES.c.channel == Channel.SUPERVISOR.value)
    else:
        return {}
    aggregates = {
        "reports": sa.func.count(),
        "supervisor_reports": _count_if(CASES.c.channel == Channel.SUPERVISOR.value),
        "valid_reports": _count_if(CASES.c.registered_at.is_not(None)),
    }
    names = [name for name in aggregates if name in needed]
    if not names:
        return {}
    stmt = sa.select(key, *(aggregates[name] for name in names)).where(*filters).group_by(key)
    return _rows(session.execute(stmt), names)


# ------------------------------------------------------------------ history (by case_event.created_at)


def _returned_dispatch() -> ColumnElement[bool]:
    """This dispatch event was returned: the case's next dispatch-or-return event is a return."""
    ret = EVENTS.alias("ret")
    later = EVENTS.alias("redispatch")
    redispatched_before = (
        sa.select(sa.literal(1))
        .where(
            later.c.case_id == EVENTS.c.case_id,
            later.c.action == Action.DISPATCH.value,
            later.c.id > EVENTS.c.id,
            later.c.id < ret.c.id,
        )
        .correlate_except(later)
        .exists()
    )
    returned = (
        sa.select(sa.literal(1))
        .where(
            ret.c.case_id == EVENTS.c.case_id,
            ret.c.action == Action.RETURN.value,
            ret.c.id > EVENTS.c.id,
            ~redispatched_before,
        )
        .correlate_except(ret)
        .exists()
    )
    return sa.and_(EVENTS.c.action == Action.DISPATCH.value, returned)


def _event_aggregates(dialect_name: str) -> dict[str, tuple[frozenset[str], ColumnElement[Any]]]:
    e, c = EVENTS.c, CASES.c

    def act(*names: str) -> frozenset[str]:
        return frozenset(names)

    closed = sa.and_(e.action == Action.CHECK.value, e.to_status == CaseStatus.CLOSED.value)
    handle = e.action == Action.HANDLE.value
    in_period_handling = sa.and_(handle, c.handle_started_at <= e.created_at)
    return {
        "registered": (act("register"), _distinct_cases_if(e.action == Action.REGISTER.value)),
        "ontime_registered": (
            act("register"),
            _count_if(sa.and_(e.action == Action.REGISTER.value, e.created_at <= c.register_due_at)),
        ),
        "closed": (act("check"), _distinct_cases_if(closed)),
        "ontime_closed": (
            act("check"),
            _distinct_cases_if(sa.and_(closed, c.overdue.is_(sa.false()), c.handled_at <= c.handle_due_at)),
        ),
        "dispatched": (act("dispatch"), _count_if(e.action == Action.DISPATCH.value)),
        "returned": (act("dispatch"), _count_if(_returned_dispatch())),
        "handled": (act("handle"), _count_if(handle)),
        "ontime_handled": (act("handle"), _count_if(sa.and_(handle, e.created_at <= c.handle_due_at))),
        "handle_hours_n": (act("handle"), _count_if(in_period_handling)),
        "handle_hours_sum": (
            act("handle"),
            sa.func.sum(
                sa.case(
                    (in_period_handling, sqlfn.hours_between(dialect_name, e.created_at, c.handle_started_at))
                )
            ),
        ),
        "reworked": (
            act("check"),
            _count_if(sa.and_(e.action == Action.CHECK.value, e.to_status == CaseStatus.DISPATCHED.value)),
        ),
        "overdue_cases": (act("overdue"), _distinct_cases_if(e.action == "overdue")),
        "accepted": (act("accept"), _count_if(e.action == Action.ACCEPT.value)),
        "sent_verify": (act("send_verify"), _count_if(e.action == Action.SEND_VERIFY.value)),
        "voided": (act("void"), _count_if(e.action == Action.VOID.value)),
        "merged": (act("merge"), _count_if(e.action == Action.MERGE.value)),
        "decisions": (DECISIONS, _count_if(e.action.in_(sorted(DECISIONS)))),
        "urges": (act("urge"), _count_if(e.action == Action.URGE.value)),
        "sent_check": (act("send_check"), _count_if(e.action == Action.SEND_CHECK.value)),
        "verified": (act("verify"), _count_if(e.action == Action.VERIFY.value)),
        "checked": (act("check"), _count_if(e.action == Action.CHECK.value)),
        "actions": (STAFF_ACTIONS, _count_if(e.action.in_(sorted(STAFF_ACTIONS)))),
    }


def event_counts(
    session: Session, *, target: Target, period: Period, scope: ColumnElement[bool], needed: frozenset[str]
) -> Counts:
    """The counts taken from the case history in the period (see ``core.evaluation.indicators``)."""
    aggregates = _event_aggregates(dialect(session))
    wanted = set(needed)
    if "handle_hours_n" in wanted:
        wanted.add("handle_hours_sum")
    names = [name for name in aggregates if name in wanted]
    if not names:
        return {}
    actions = sorted(set().union(*(aggregates[name][0] for name in names)))
    filters: list[Any] = [_in(EVENTS.c.created_at, period), EVENTS.c.action.in_(actions), scope]
    if target.dimension is None:
        key: Any = sa.literal(OVERALL)
    elif target.is_area:
        key = CASES.c[AREA_COLUMN[target.dimension]]
    elif target.group is Group.DEPARTMENT:
        key = EVENTS.c.department_id
    else:
        key = EVENTS.c.actor_id
        filters += [EVENTS.c.actor_kind == "staff", EVENTS.c.actor_role == ROLE_OF[target.dimension].value]
    stmt = (
        sa.select(key, *(aggregates[name][1] for name in names))
        .select_from(EVENTS.join(CASES, CASES.c.id == EVENTS.c.case_id))
        .where(*filters)
        .group_by(key)
    )
    return _rows(session.execute(stmt), names)


# ------------------------------------------------------------------ deadlines (by case.handle_due_at)


def _event_in(period: Period, *conditions: Any) -> ColumnElement[bool]:
    other = EVENTS.alias("in_period")
    return (
        sa.select(sa.literal(1))
        .where(
            other.c.case_id == CASES.c.id,
            _in(other.c.created_at, period),
            *[cond(other) for cond in conditions],
        )
        .correlate_except(other)
        .exists()
    )


def due_counts(
    session: Session, *, target: Target, period: Period, scope: ColumnElement[bool], needed: frozenset[str]
) -> Counts:
    """Cases whose handling deadline falls in the period and that were not closed (handled) in it."""
    c = CASES.c
    if target.dimension is None:
        key: Any = sa.literal(OVERALL)
    elif target.is_area:
        key = c[AREA_COLUMN[target.dimension]]
    elif target.group is Group.DEPARTMENT:
        key = c.department_id
    else:
        return {}
    alive = c.status.not_in(GONE)
    closed_in_period = _event_in(
        period,
        lambda ev: ev.c.action == Action.CHECK.value,
        lambda ev: ev.c.to_status == CaseStatus.CLOSED.value,
    )
    handled_in_period = _event_in(period, lambda ev: ev.c.action == Action.HANDLE.value)
    aggregates = {
        "due_not_closed": _count_if(
            sa.and_(
                alive,
                c.registered_at.is_not(None),
                sa.or_(c.closed_at.is_(None), c.closed_at >= period.start_at),
                ~closed_in_period,
            )
        ),
        "due_not_handled": _count_if(
            sa.and_(
                alive,
                c.department_id.is_not(None),
                c.dispatched_at.is_not(None),
                sa.or_(c.handled_at.is_(None), c.handled_at >= period.start_at),
                ~handled_in_period,
            )
        ),
    }
    names = [name for name in aggregates if name in needed]
    if not names:
        return {}
    stmt = (
        sa.select(key, *(aggregates[name] for name in names))
        .where(_in(c.handle_due_at, period), scope)
        .group_by(key)
    )
    return _rows(session.execute(stmt), names)


# ------------------------------------------------------------------ session settings


def without_jit(session: Session) -> None:
    """PostgreSQL: no JIT compilation for the rest of the transaction (``SET LOCAL``). The planner
    estimates these aggregates (correlated subqueries, a million-row join) as costly enough to compile,
    and compiling took longer than running them: 0.1–1.4 s per query for 0.1–0.3 s of work."""
    if dialect(session) == "postgresql":
        session.execute(sa.text("SET LOCAL jit = off"))


# ------------------------------------------------------------------ row names


def area_names(session: Session, level: AreaLevel) -> dict[str, str]:
    stmt = select(AdminArea.code, AdminArea.name).where(col(AdminArea.level) == level)
    return {code: name for code, name in session.exec(stmt)}


def grid_names(session: Session) -> dict[str, str]:
    stmt = select(ResponsibilityGrid.code, ResponsibilityGrid.name, AdminArea.code).join(
        AdminArea, col(AdminArea.id) == col(ResponsibilityGrid.community_id)
    )
    return {code: name for code, name, _ in session.exec(stmt)}


def grid_communities(session: Session) -> dict[str, str]:
    """Responsibility grid code → the code of its community (for scoping the listing)."""
    stmt = select(ResponsibilityGrid.code, AdminArea.code).join(
        AdminArea, col(AdminArea.id) == col(ResponsibilityGrid.community_id)
    )
    return {code: community for code, community in session.exec(stmt)}


def department_names(session: Session, *, active_only: bool) -> dict[str, str]:
    stmt = select(Department.id, Department.name)
    if active_only:
        stmt = stmt.where(col(Department.active).is_(True))
    return {str(id_): name for id_, name in session.exec(stmt)}


def staff_names(session: Session, role: StaffRole, *, active_only: bool) -> dict[str, str]:
    stmt = select(StaffUser.id, StaffUser.display_name).where(col(StaffUser.role) == role)
    if active_only:
        stmt = stmt.where(col(StaffUser.active).is_(True))
    return {str(id_): name for id_, name in session.exec(stmt)}


def names_of(session: Session, dimension: Dimension, keys: Iterable[str]) -> Mapping[str, str]:
    """Names of rows that have data, whatever their state (a disabled account still has a name)."""
    if dimension in AREA_LEVEL:
        return area_names(session, AREA_LEVEL[dimension])
    if dimension is Dimension.GRID:
        return grid_names(session)
    if dimension is Dimension.DEPARTMENT:
        return department_names(session, active_only=False)
    return staff_names(session, ROLE_OF[dimension], active_only=False)


# ------------------------------------------------------------------ hot spots (by case.created_at)


def top_categories(
    session: Session, *, period: Period, scope: ColumnElement[bool], limit: int
) -> list[tuple[str, str, int]]:
    count = sa.func.count().label("n")
    stmt = (
        sa.select(col(Category.code), col(Category.name), count)
        .select_from(CASES.join(Category.__table__, col(Category.id) == CASES.c.category_id))  # type: ignore[attr-defined]
        .where(_in(CASES.c.created_at, period), scope)
        .group_by(col(Category.code), col(Category.name))
        .order_by(count.desc(), col(Category.code))
        .limit(limit)
    )
    return [(code, name, int(n)) for code, name, n in session.execute(stmt)]


def top_codes(
    session: Session, *, column: str, period: Period, scope: ColumnElement[bool], limit: int
) -> list[tuple[str, int]]:
    """The most reported ``unit_grid_code`` / ``street_code`` values of the period."""
    key = CASES.c[column]
    count = sa.func.count().label("n")
    stmt = (
        sa.select(key, count)
        .where(_in(CASES.c.created_at, period), scope)
        .group_by(key)
        .order_by(count.desc(), key)
        .limit(limit)
    )
    return [(str(code), int(n)) for code, n in session.execute(stmt)]


def heat_map(session: Session, *, period: Period, scope: ColumnElement[bool]) -> list[tuple[int, int, int]]:
    """(ISO weekday 1–7, local hour 0–23, reports) of the period."""
    name = dialect(session)
    weekday = sqlfn.local_weekday(name, CASES.c.created_at).label("weekday")
    hour = sqlfn.local_hour(name, CASES.c.created_at).label("hour")
    stmt = (
        sa.select(weekday, hour, sa.func.count())
        .where(_in(CASES.c.created_at, period), scope)
        .group_by(weekday, hour)
    )
    return [(int(w), int(h), int(n)) for w, h, n in session.execute(stmt)]
