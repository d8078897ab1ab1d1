"""The staff side of the call-back and follow-up tasks (console 回拨/回访任务): list and act on them.

- ``list_tasks(session, TaskFilter(...), limit=...)``: newest first, with the missed call's time or the
  closed case's number.
- ``call_now``: a ``pending`` or ``unreachable`` task → ``pending``, due now, assigned to the staff member;
  the bridge's scheduler (``core.calls.callbacks.claim_due``) originates it on its next tick (within the
  calling hours, when outbound calls are enabled). An ``unreachable`` task keeps its attempts: it gets
  one more try.
- ``cancel``: ``pending``/``unreachable`` → ``cancelled``, the reason in ``last_result``.
- ``mark_handled``: a call-back handled by other means (the agent phoned from a desk phone, the citizen
  came in…) → ``done``, the note in ``last_result``.

A task being dialled (``dialing``) or finished (``done``/``cancelled``) refuses these moves with a
``Conflict`` (409). The task row is read ``FOR UPDATE`` (PostgreSQL) so a try claimed by the bridge
meanwhile is seen. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.errors import Conflict, Invalid, NotFound
from core.models import Case, StaffUser
from core.models.calls import Call, CallTask, CallTaskKind, CallTaskStatus

KIND_LABELS: dict[CallTaskKind, str] = {
    CallTaskKind.CALLBACK: "回拨",
    CallTaskKind.FOLLOW_UP: "回访",
}
STATUS_LABELS: dict[CallTaskStatus, str] = {
    CallTaskStatus.PENDING: "待拨打",
    CallTaskStatus.DIALING: "呼叫中",
    CallTaskStatus.DONE: "已完成",
    CallTaskStatus.UNREACHABLE: "未接通",
    CallTaskStatus.CANCELLED: "已取消",
}
SATISFACTION_LABELS: dict[int, str] = {1: "满意", 2: "基本满意", 3: "不满意"}

ACTIONABLE = frozenset({CallTaskStatus.PENDING, CallTaskStatus.UNREACHABLE})
MAX_TEXT = 150  # the reason or note; "已取消：" / "已处理：" and the result fit in last_result (200)
MAX_LIMIT = 500


@dataclass(frozen=True)
class TaskFilter:
    kind: CallTaskKind | None = None
    status: CallTaskStatus | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    number: str = ""  # digits the number contains


@dataclass(frozen=True)
class TaskRow:
    task: CallTask
    call_started_at: datetime | None  # the missed call (call-backs)
    case_no: str  # the closed case (follow-ups), or empty


# --- queries ---------------------------------------------------------------------------------------


def list_tasks(session: Session, where: TaskFilter, *, limit: int = 200) -> list[TaskRow]:
    """Tasks matching ``where``, newest first, at most ``limit`` (1..MAX_LIMIT)."""
    limit = max(1, min(limit, MAX_LIMIT))
    statement = (
        select(CallTask, Call.started_at, Case.case_no)
        .join(Call, col(Call.id) == col(CallTask.call_id), isouter=True)
        .join(Case, col(Case.id) == col(CallTask.case_id), isouter=True)
        .order_by(col(CallTask.created_at).desc(), col(CallTask.id).desc())
        .limit(limit)
    )
    if where.kind is not None:
        statement = statement.where(col(CallTask.kind) == where.kind)
    if where.status is not None:
        statement = statement.where(col(CallTask.status) == where.status)
    if where.since is not None:
        statement = statement.where(col(CallTask.created_at) >= where.since)
    if where.until is not None:
        statement = statement.where(col(CallTask.created_at) < where.until)
    if where.number:
        statement = statement.where(col(CallTask.number).contains(where.number, autoescape=True))
    return [
        TaskRow(task=task, call_started_at=started_at, case_no=case_no or "")
        for task, started_at, case_no in session.exec(statement).all()
    ]


def get_task(session: Session, task_id: int, *, for_update: bool = False) -> CallTask:
    task = session.get(CallTask, task_id, with_for_update=for_update, populate_existing=for_update)
    if task is None:
        raise NotFound("call_task_not_found", "回拨/回访任务不存在")
    return task


def counts_by_status(session: Session) -> dict[CallTaskStatus, int]:
    statement = sa.select(col(CallTask.status), sa.func.count()).group_by(col(CallTask.status))
    return {CallTaskStatus(status): count for status, count in session.execute(statement)}


# --- actions (never commit) ------------------------------------------------------------------------


def _actionable(task: CallTask, doing: str) -> None:
    if task.status is CallTaskStatus.DIALING:
        raise Conflict("call_task_dialing", f"该任务正在呼叫中，暂不能{doing}，请稍后刷新再试")
    if task.status not in ACTIONABLE:
        label = STATUS_LABELS[task.status]
        raise Conflict("call_task_closed", f"该任务已{label.removeprefix('已')}，不能再{doing}")


def _text(value: str, *, code: str, what: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise Invalid(code, f"请填写{what}")
    if len(text) > MAX_TEXT:
        raise Invalid(f"{code.removesuffix('_required')}_too_long", f"{what}最多 {MAX_TEXT} 个字")
    return text


def call_now(session: Session, *, task_id: int, staff: StaffUser, now: datetime) -> CallTask:
    """Due now, assigned to ``staff``: the bridge's scheduler places the call on its next tick."""
    task = get_task(session, task_id, for_update=True)
    _actionable(task, "立即回拨")
    if not task.number:
        raise Conflict("call_task_no_number", "该任务没有可拨打的电话号码")
    task.status = CallTaskStatus.PENDING
    task.next_attempt_at = now
    task.assigned_staff_id = staff.id
    task.updated_at = now
    session.flush()
    return task


def cancel(session: Session, *, task_id: int, staff: StaffUser, reason: str, now: datetime) -> CallTask:
    """Not to be called (any more): the reason goes to ``last_result``."""
    text = _text(reason, code="cancel_reason_required", what="取消原因")
    task = get_task(session, task_id, for_update=True)
    _actionable(task, "取消")
    task.status = CallTaskStatus.CANCELLED
    task.next_attempt_at = None
    task.last_result = f"已取消：{text}"
    task.updated_at = now
    session.flush()
    return task


def mark_handled(session: Session, *, task_id: int, staff: StaffUser, note: str, now: datetime) -> CallTask:
    """A call-back handled by other means → ``done``, handled by ``staff``, the note in ``last_result``."""
    text = _text(note, code="handled_note_required", what="处理说明")
    task = get_task(session, task_id, for_update=True)
    if task.kind is not CallTaskKind.CALLBACK:
        raise Conflict("call_task_not_callback", "只有回拨任务可以标记为已处理，回访任务请立即回拨或取消")
    _actionable(task, "标记为已处理")
    task.status = CallTaskStatus.DONE
    task.next_attempt_at = None
    task.assigned_staff_id = staff.id
    task.last_result = f"已处理：{text}"
    task.updated_at = now
    session.flush()
    return task


__all__ = [
    "KIND_LABELS",
    "SATISFACTION_LABELS",
    "STATUS_LABELS",
    "TaskFilter",
    "TaskRow",
    "call_now",
    "cancel",
    "counts_by_status",
    "get_task",
    "list_tasks",
    "mark_handled",
]
