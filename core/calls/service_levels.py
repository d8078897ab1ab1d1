"""Hotline service levels (GB/T 33358) per local day, agent or line over a period, in SQL aggregates.

For the inbound calls that started in ``[start_at, end_at)``:

- **offered**: every inbound call (the denominator of the rates);
- **answered within 15 s**: answered after at most 15 s in the queue (a call answered without queueing
  counts as 0 s), as a share of the offered calls (target: as high as possible);
- **connected rate** (接通率): answered ÷ offered (target ≥ 95 %); **abandon rate**: abandoned ÷ offered;
- **average hold time**: over the calls with a measured queue time; **average talk time**: over the
  answered calls with a talk time;
- **call-back completion**: call-backs (``CallTask`` kind ``callback``) done ÷ created, for the
  missed calls of the period (by agent: the call-backs assigned to that agent).

By agent, a call counts for the agent who answered it (unanswered calls: row "未接通").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from core.kit.clock import SHANGHAI
from core.models.calls import Call, CallDirection, CallOutcome, CallTask, CallTaskKind, CallTaskStatus
from core.models.staff import StaffUser

ANSWER_TARGET_S = 15
CONNECTED_TARGET = 0.95


class GroupBy(StrEnum):
    DAY = "day"
    AGENT = "agent"
    LINE = "line"

    @property
    def label(self) -> str:
        return GROUP_LABELS[self]


GROUP_LABELS = {GroupBy.DAY: "日期", GroupBy.AGENT: "坐席", GroupBy.LINE: "线路"}
NO_AGENT = "未接通"
NO_LINE = "未知线路"


@dataclass(frozen=True)
class LevelRow:
    key: str  # the day (YYYY-MM-DD), the agent's name or the line; "合计" for the total
    offered: int
    answered: int
    answered_in_target: int
    abandoned: int
    avg_hold_s: float | None
    avg_talk_s: float | None
    callbacks_created: int
    callbacks_done: int

    @property
    def in_target_rate(self) -> float | None:
        return self.answered_in_target / self.offered if self.offered else None

    @property
    def connected_rate(self) -> float | None:
        return self.answered / self.offered if self.offered else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    @property
    def callback_rate(self) -> float | None:
        return self.callbacks_done / self.callbacks_created if self.callbacks_created else None

    @property
    def connected_ok(self) -> bool:
        rate = self.connected_rate
        return rate is None or rate >= CONNECTED_TARGET


@dataclass(frozen=True)
class ServiceLevels:
    group_by: GroupBy
    rows: list[LevelRow]
    total: LevelRow


def local_day(dialect: str, instant: Any) -> ColumnElement[Any]:
    """The local (Asia/Shanghai) date of a stored UTC instant, as text ``YYYY-MM-DD``."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone(str(SHANGHAI), instant), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", instant, "+8 hours")


def _call_key(dialect: str, group_by: GroupBy) -> ColumnElement[Any]:
    if group_by is GroupBy.DAY:
        return local_day(dialect, col(Call.started_at))
    if group_by is GroupBy.AGENT:
        return sa.cast(col(Call.agent_staff_id), sa.String)
    return sa.cast(col(Call.line), sa.String)


def _in_period(start_at: datetime, end_at: datetime) -> list[ColumnElement[bool]]:
    return [
        col(Call.direction) == CallDirection.INBOUND,
        col(Call.started_at) >= start_at,
        col(Call.started_at) < end_at,
    ]


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _call_stats(
    session: Session, group_by: GroupBy | None, start_at: datetime, end_at: datetime
) -> dict[str | None, tuple[int, int, int, int, float | None, float | None]]:
    dialect = session.get_bind().dialect.name
    answered = col(Call.answered_at).is_not(None)
    columns: list[Any] = [
        sa.func.count(col(Call.id)),
        _count_if(answered),
        _count_if(sa.and_(answered, sa.func.coalesce(col(Call.hold_s), 0) <= ANSWER_TARGET_S)),
        _count_if(col(Call.outcome) == CallOutcome.ABANDONED),
        sa.func.avg(col(Call.hold_s)),
        sa.func.avg(sa.case((answered, col(Call.talk_s)), else_=None)),
    ]
    if group_by is None:
        statement = sa.select(sa.literal(None), *columns).where(*_in_period(start_at, end_at))
    else:
        key = _call_key(dialect, group_by).label("key")
        statement = sa.select(key, *columns).where(*_in_period(start_at, end_at)).group_by(key)
    out: dict[str | None, tuple[int, int, int, int, float | None, float | None]] = {}
    for key_value, offered, answered_n, in_target, abandoned, hold, talk in session.execute(statement):
        out[None if key_value is None else str(key_value)] = (
            int(offered),
            int(answered_n),
            int(in_target),
            int(abandoned),
            None if hold is None else float(hold),
            None if talk is None else float(talk),
        )
    return out


def _callback_stats(
    session: Session, group_by: GroupBy | None, start_at: datetime, end_at: datetime
) -> dict[str | None, tuple[int, int]]:
    dialect = session.get_bind().dialect.name
    columns: list[Any] = [
        sa.func.count(col(CallTask.id)),
        _count_if(col(CallTask.status) == CallTaskStatus.DONE),
    ]
    if group_by is GroupBy.AGENT:
        key: ColumnElement[Any] | None = sa.cast(col(CallTask.assigned_staff_id), sa.String)
    elif group_by is None:
        key = None
    else:
        key = _call_key(dialect, group_by)
    selected = [sa.literal(None) if key is None else key.label("key"), *columns]
    statement = (
        sa.select(*selected)
        .select_from(CallTask)
        .join(Call, col(Call.id) == col(CallTask.call_id))
        .where(col(CallTask.kind) == CallTaskKind.CALLBACK, *_in_period(start_at, end_at))
    )
    if key is not None:
        statement = statement.group_by(key)
    return {
        None if key_value is None else str(key_value): (int(created), int(done))
        for key_value, created, done in session.execute(statement)
    }


def _agent_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    statement = sa.select(
        col(StaffUser.id), col(StaffUser.display_name), col(StaffUser.agent_interface)
    ).where(col(StaffUser.id).in_(sorted(ids)))
    names: dict[int, str] = {}
    for staff_id, name, interface in session.execute(statement):
        names[int(staff_id)] = f"{name}（{interface}）" if interface else str(name)
    return names


def _row(
    key: str,
    calls: tuple[int, int, int, int, float | None, float | None] | None,
    callbacks: tuple[int, int] | None,
) -> LevelRow:
    offered, answered, in_target, abandoned, hold, talk = calls or (0, 0, 0, 0, None, None)
    created, done = callbacks or (0, 0)
    return LevelRow(
        key=key,
        offered=offered,
        answered=answered,
        answered_in_target=in_target,
        abandoned=abandoned,
        avg_hold_s=hold,
        avg_talk_s=talk,
        callbacks_created=created,
        callbacks_done=done,
    )


def service_levels(
    session: Session, *, group_by: GroupBy, start_at: datetime, end_at: datetime
) -> ServiceLevels:
    """The service levels of the inbound calls that started in ``[start_at, end_at)``, by ``group_by``."""
    calls = _call_stats(session, group_by, start_at, end_at)
    callbacks = _callback_stats(session, group_by, start_at, end_at)
    keys = sorted(set(calls) | set(callbacks), key=lambda key: (key is None, key or ""))
    if group_by is GroupBy.AGENT:
        names = _agent_names(session, {int(key) for key in keys if key is not None})
        labels = {key: names.get(int(key), f"#{key}") if key is not None else NO_AGENT for key in keys}
    else:
        labels = {key: key if key else NO_LINE for key in keys}
    rows = [_row(labels[key], calls.get(key), callbacks.get(key)) for key in keys]
    if group_by is GroupBy.AGENT:
        rows.sort(key=lambda row: (row.key == NO_AGENT, row.key))
    total_calls = _call_stats(session, None, start_at, end_at).get(None)
    total_callbacks = _callback_stats(session, None, start_at, end_at).get(None)
    return ServiceLevels(group_by=group_by, rows=rows, total=_row("合计", total_calls, total_callbacks))
