"""Placing the calls we owe: call-backs of missed calls and follow-ups (回访) of closed hotline cases.

The hotline bridge's scheduler (``hotline.scheduler``) runs these on its database thread:

    claim_due(session, now=..., limit=K, ami=...)        # pending tasks due now → DIALING, as OutboundCall
    record_result(session, task_id=..., result=..., ami=...)   # the OriginateResponse of one try
    recover_stale(session, older_than=..., ami=...)      # DIALING without an answer (the bridge died)

A try is one Originate. ``Success`` (the citizen answered) → ``done`` (a call-back is then connected to
the agents' queue, a follow-up to the FastAGI script, which records the satisfaction on the task).
Anything else → ``attempts + 1``, back to ``pending`` with ``next_attempt_at`` backed off
(``retry_min_s`` doubling up to ``retry_max_s``), ``unreachable`` after ``max_attempts`` tries.

Pure parts (``backoff_s``, ``apply_result``, ``within_calling_hours``, ``originate_fields``) have no I/O.
Services never commit: the caller's ``session_scope`` does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.kit.clock import to_local
from core.models.calls import Call, CallTask, CallTaskKind, CallTaskStatus
from core.settings import AmiSettings

log = logging.getLogger("zhcg.calls")

# OriginateResponse Reason (Asterisk's AST_CONTROL_* of the outbound channel).
REASON_TEXT: dict[str, str] = {
    "0": "呼叫失败",
    "1": "对方挂断",
    "3": "无人接听",
    "4": "已接通",
    "5": "对方忙",
    "8": "线路拥塞",
}
NO_RESPONSE = "未收到呼叫结果"
STALE_RESULT = "呼叫中断（热线桥接进程重启）"
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class OutboundCall:
    """One try to place: what the bridge needs to originate it (no ORM object leaves the thread)."""

    task_id: int
    kind: CallTaskKind
    number: str
    line: str
    attempt: int  # 1 for the first try


@dataclass(frozen=True)
class DialResult:
    """How one Originate ended: ``success`` only for an answered call (OriginateResponse Success)."""

    success: bool
    reason: str = ""  # OriginateResponse Reason code, or empty
    message: str = ""  # an error text when there was no OriginateResponse

    @property
    def text(self) -> str:
        if self.message:
            return self.message[:200]
        return REASON_TEXT.get(self.reason, f"呼叫失败（原因 {self.reason or '未知'}）")


# --- pure ------------------------------------------------------------------------------------------


def parse_calling_hours(value: str) -> tuple[time, time] | None:
    """``"08:00-21:00"`` → (08:00, 21:00); empty → None (any time). ValueError when malformed."""
    if not value.strip():
        return None
    match = _HOURS.match(value.strip())
    if match is None:
        raise ValueError(f"calling hours must look like 08:00-21:00, not {value!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"calling hours out of range: {value!r}")
    start = time(h1, m1)
    end = time.max if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError(f"calling hours must end after they start: {value!r}")
    return start, end


def within_calling_hours(now: datetime, hours: str) -> bool:
    window = parse_calling_hours(hours)
    if window is None:
        return True
    local = to_local(now).time()
    return window[0] <= local < window[1]


def backoff_s(attempts: int, ami: AmiSettings) -> float:
    """Delay before the next try after ``attempts`` failed tries (1 → retry_min_s, doubling)."""
    return float(min(ami.retry_max_s, ami.retry_min_s * 2 ** max(0, min(attempts - 1, 30))))


def apply_result(task: CallTask, result: DialResult, *, now: datetime, ami: AmiSettings) -> None:
    """Record one finished try on the task (only a task that is being dialled changes)."""
    if task.status is not CallTaskStatus.DIALING:
        return
    task.attempts += 1
    task.last_result = result.text
    task.updated_at = now
    if result.success:
        task.status = CallTaskStatus.DONE
        task.next_attempt_at = None
    elif task.attempts >= ami.max_attempts:
        task.status = CallTaskStatus.UNREACHABLE
        task.next_attempt_at = None
    else:
        task.status = CallTaskStatus.PENDING
        task.next_attempt_at = now + timedelta(seconds=backoff_s(task.attempts, ami))


def caller_id(line: str, ami: AmiSettings) -> str:
    number = line or ami.default_line
    return f'"{number}" <{number}>'


def originate_fields(call: OutboundCall, ami: AmiSettings) -> dict[str, str]:
    """The Originate action (without ActionID) for one try."""
    if call.kind is CallTaskKind.FOLLOW_UP:
        context, exten, priority = ami.followup_context, ami.followup_exten, ami.followup_priority
        application, data = ami.followup_application, ami.followup_data
    else:
        context, exten, priority = ami.callback_context, ami.callback_exten, ami.callback_priority
        application, data = ami.callback_application, ami.callback_data
    fields = {
        "Action": "Originate",
        "Channel": ami.outbound_channel.replace("{number}", call.number),
        "Timeout": str(ami.ring_timeout_s * 1000),
        "CallerID": caller_id(call.line, ami),
        "Variable": f"ZHCG_TASK={call.task_id}",
        "Async": "true",
    }
    if application:
        fields.update({"Application": application, "Data": data})
    else:
        fields.update({"Context": context, "Exten": exten, "Priority": str(priority)})
    return fields


# --- queries and services (never commit) -----------------------------------------------------------


def claim_due(session: Session, *, now: datetime, limit: int, ami: AmiSettings) -> list[OutboundCall]:
    """Up to ``limit`` pending tasks due at ``now``, oldest first, marked DIALING (one bridge claims)."""
    if limit <= 0 or not within_calling_hours(now, ami.calling_hours):
        return []
    statement = (
        select(CallTask, Call.line)
        .join(Call, col(Call.id) == col(CallTask.call_id), isouter=True)
        .where(
            col(CallTask.status) == CallTaskStatus.PENDING,
            sa.or_(col(CallTask.next_attempt_at).is_(None), col(CallTask.next_attempt_at) <= now),
            col(CallTask.number) != "",
        )
        .order_by(sa.func.coalesce(col(CallTask.next_attempt_at), col(CallTask.created_at)), col(CallTask.id))
        .limit(limit)
        # A task a person is changing in the console right now (locked) waits for the next round.
        .with_for_update(of=CallTask, skip_locked=True)
    )
    rows = session.exec(statement).all()
    line_of_case = _lines_of_cases(session, [task.case_id for task, _ in rows if task.case_id is not None])
    claimed: list[OutboundCall] = []
    for task, line in rows:
        assert task.id is not None
        task.status = CallTaskStatus.DIALING
        task.updated_at = now
        if not line and task.case_id is not None:
            line = line_of_case.get(task.case_id, "")
        claimed.append(
            OutboundCall(
                task_id=task.id,
                kind=task.kind,
                number=task.number,
                line=line or "",
                attempt=task.attempts + 1,
            )
        )
    if claimed:
        session.flush()
    return claimed


def _lines_of_cases(session: Session, case_ids: list[int]) -> dict[int, str]:
    """The line of a hotline call that created each case (the caller ID of its follow-up)."""
    if not case_ids:
        return {}
    statement = sa.select(col(Call.case_id), col(Call.line)).where(
        col(Call.case_id).in_(sorted(set(case_ids))), col(Call.line) != ""
    )
    return {case_id: line for case_id, line in session.execute(statement) if case_id is not None}


def record_result(
    session: Session, *, task_id: int, result: DialResult, now: datetime, ami: AmiSettings
) -> CallTask | None:
    task = session.get(CallTask, task_id)
    if task is None:
        return None
    apply_result(task, result, now=now, ami=ami)
    session.flush()
    return task


def recover_stale(
    session: Session,
    *,
    older_than: datetime,
    now: datetime,
    ami: AmiSettings,
    exclude: Collection[int] = (),
) -> int:
    """Tasks left DIALING by a bridge that stopped before the answer: count the try as failed."""
    statement = select(CallTask).where(
        col(CallTask.status) == CallTaskStatus.DIALING, col(CallTask.updated_at) < older_than
    )
    if exclude:
        statement = statement.where(col(CallTask.id).not_in(sorted(exclude)))
    tasks = list(session.exec(statement).all())
    for task in tasks:
        apply_result(task, DialResult(success=False, message=STALE_RESULT), now=now, ami=ami)
    if tasks:
        session.flush()
    return len(tasks)


__all__ = [
    "DialResult",
    "OutboundCall",
    "apply_result",
    "backoff_s",
    "claim_due",
    "originate_fields",
    "parse_calling_hours",
    "record_result",
    "recover_stale",
    "within_calling_hours",
]
