"""Follow-up calls (回访) of closed hotline cases, and the IVR self-service status answer.

- ``create_follow_ups(session, since=..., now=..., delay=...)``: one ``CallTask(kind=follow_up)`` per
  hotline case closed since ``since`` (unique per case: a reopened and closed-again case is not called
  twice). The number is the reporter's phone, else the caller of the call linked to the case; a case
  without a callable number gets an ``unreachable`` task saying so (and is not scanned again). Anonymous
  reports are not called back. Run by the bridge's scheduler: ``core.cases.service`` is not touched.
- ``record_satisfaction(session, task_id=..., digit=...)``: the FastAGI ``followup`` script's answer,
  1 满意 / 2 基本满意 / 3 不满意, stored on the task and written to the case's history (no status change).
- ``case_status_answer(session, keyed=..., caller=...)``: what the IVR says for a keyed case number.

Services never commit.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.calls.service import CALLABLE_NUMBER, mask_number
from core.cases.service import record_event
from core.cases.workflow import STATUS_LABELS
from core.models import Case, CaseStatus, Channel
from core.models.calls import Call, CallTask, CallTaskKind, CallTaskStatus

log = logging.getLogger("zhcg.calls")

SATISFACTION: dict[int, str] = {1: "满意", 2: "基本满意", 3: "不满意"}
NO_NUMBER = "无可回访的电话号码"
NO_ANSWER_KEYED = "已接通，市民未按键评价"
UNKNOWN_CASE_TEXT = "未查询到您输入的案件编号，请核对后重新输入，或按0转人工服务。"
AMBIGUOUS_CASE_TEXT = "您输入的编号对应多个案件，请转人工服务查询。"
_KEYED = re.compile(r"[0-9]{4,20}")


@dataclass(frozen=True)
class FollowUpScan:
    created: int = 0
    without_number: int = 0


@dataclass(frozen=True)
class StatusAnswer:
    """The IVR answer: ``text`` for TTS, ``prompt`` a sound file name for the dialplan."""

    found: bool
    text: str
    prompt: str
    case_no: str = ""


def _callable(number: str) -> bool:
    return bool(CALLABLE_NUMBER.fullmatch(number))


def create_follow_ups(session: Session, *, since: datetime, now: datetime, delay: timedelta) -> FollowUpScan:
    """Follow-up tasks for the hotline cases closed since ``since`` that have none yet."""
    has_task = (
        sa.select(sa.literal(1))
        .where(col(CallTask.case_id) == col(Case.id), col(CallTask.kind) == CallTaskKind.FOLLOW_UP)
        .exists()
    )
    statement = (
        select(Case)
        .where(
            col(Case.channel) == Channel.HOTLINE,
            col(Case.status) == CaseStatus.CLOSED,
            col(Case.closed_at) >= since,
            col(Case.is_anonymous).is_(False),
            ~has_task,
        )
        .order_by(col(Case.closed_at), col(Case.id))
    )
    cases = list(session.exec(statement).all())
    if not cases:
        return FollowUpScan()
    callers = _callers_of_cases(session, [case.id for case in cases if case.id is not None])
    created = without = 0
    for case in cases:
        assert case.id is not None
        number = case.reporter_phone if _callable(case.reporter_phone) else callers.get(case.id, "")
        closed_at = case.closed_at or now
        if number:
            session.add(
                CallTask(
                    kind=CallTaskKind.FOLLOW_UP,
                    number=number,
                    case_id=case.id,
                    next_attempt_at=closed_at + delay,
                )
            )
            created += 1
            log.info("follow-up owed: case %s caller %s", case.case_no, mask_number(number))
        else:
            session.add(
                CallTask(
                    kind=CallTaskKind.FOLLOW_UP,
                    number="",
                    case_id=case.id,
                    status=CallTaskStatus.UNREACHABLE,
                    last_result=NO_NUMBER,
                )
            )
            without += 1
    session.flush()
    return FollowUpScan(created=created, without_number=without)


def _callers_of_cases(session: Session, case_ids: list[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    statement = (
        sa.select(col(Call.case_id), col(Call.caller_number))
        .where(col(Call.case_id).in_(sorted(case_ids)))
        .order_by(col(Call.started_at))
    )
    return {
        case_id: number
        for case_id, number in session.execute(statement)
        if case_id is not None and _callable(number)
    }


def record_satisfaction(session: Session, *, task_id: int, digit: str, now: datetime) -> CallTask | None:
    """Store the keyed satisfaction (or that none was keyed: ``digit`` empty) of a follow-up call."""
    task = session.get(CallTask, task_id)
    if task is None or task.kind is not CallTaskKind.FOLLOW_UP:
        return None
    value = int(digit) if digit.isdigit() and int(digit) in SATISFACTION else None
    if task.status is CallTaskStatus.DIALING:  # the script ran before the OriginateResponse was applied
        task.attempts += 1
    if task.status in (CallTaskStatus.DIALING, CallTaskStatus.PENDING):
        task.status = CallTaskStatus.DONE
        task.next_attempt_at = None
    task.updated_at = now
    if value is None:
        task.last_result = NO_ANSWER_KEYED
        session.flush()
        return task
    task.satisfaction = value  # also on the case, for its page and reports
    task.last_result = f"回访满意度：{SATISFACTION[value]}"
    case = session.get(Case, task.case_id) if task.case_id is not None else None
    if case is not None:
        case.follow_up_satisfaction = value
        record_event(
            session,
            case,
            action="follow_up",
            actor=None,
            from_status=case.status,
            note=f"电话回访：市民评价“{SATISFACTION[value]}”",
        )
    session.flush()
    return task


def case_status_answer(session: Session, *, keyed: str, caller: str = "") -> StatusAnswer:
    """The status of the case whose number the caller keyed (digits only: ``20261121RX0007`` is keyed
    ``202611210007``, the channel letters left out; when several channels share date and sequence,
    the case reported from the caller's number wins, else the caller is sent to an agent)."""
    digits = keyed.strip().rstrip("#")
    if not _KEYED.fullmatch(digits):
        return StatusAnswer(found=False, text=UNKNOWN_CASE_TEXT, prompt="zhcg/case-unknown")
    candidates = list(session.exec(select(Case).where(col(Case.case_no) == digits)).all())
    if not candidates and len(digits) == 12:
        pattern = f"{digits[:8]}__{digits[8:]}"
        candidates = list(session.exec(select(Case).where(col(Case.case_no).like(pattern))).all())
    if len(candidates) > 1 and caller:
        mine = [case for case in candidates if case.reporter_phone == caller]
        candidates = mine or candidates
    if not candidates:
        return StatusAnswer(found=False, text=UNKNOWN_CASE_TEXT, prompt="zhcg/case-unknown")
    if len(candidates) > 1:
        return StatusAnswer(found=False, text=AMBIGUOUS_CASE_TEXT, prompt="zhcg/case-ambiguous")
    case = candidates[0]
    label = STATUS_LABELS[case.status]
    # Only the state: anybody can key a number, so nothing about the reporter or the reply is said.
    text = f"您查询的案件{case.case_no}，当前状态为：{label}。"
    return StatusAnswer(
        found=True, text=text, prompt=f"zhcg/status-{case.status.value}", case_no=case.case_no
    )
