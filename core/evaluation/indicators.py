"""The indicators (评价指标): what each one counts, and the rates derived from the counts.

Every count is an SQL aggregate over one period ``P = [start, end)`` (local midnights, see
``core.evaluation.periods``); ``repository.py`` holds the queries. "Event" means a ``case_event`` row
(the case history written by ``core.cases.service``), "case" a ``case`` row. Values are *as known when
the evaluation runs*: a dispatch returned after the period still counts as returned.

=================  ==============================================================  ===================
indicator          counts                                                          date that decides
=================  ==============================================================  ===================
上报数 reports       cases (every channel and status, voided and merged included)    ``case.created_at``
监督举报数           reports with ``channel = 'supervisor'``                          ``case.created_at``
有效上报数           reports that were registered (``case.registered_at`` is set)     ``case.created_at``
立案数 registered    distinct cases with a ``register`` event                         event time
按期立案数           register events no later than ``case.register_due_at``           event time
结案数 closed        distinct cases with a ``check`` event whose ``to_status`` is      event time
                   ``closed`` (a case closed twice in P counts once)
按期结案数           closed cases never marked overdue (``case.overdue`` false) whose  close event time
                   last handling was in time (``case.handled_at <=
                   case.handle_due_at``)
应结案数 due_close   结案数 + registered cases (not voided/merged) whose handling     ``case.handle_due_at``
                   deadline ``case.handle_due_at`` falls in P, without a close
                   event in P and not closed before P (``closed_at`` null or
                   ``>= start``): what should have been closed in P
派遣数 dispatched    ``dispatch`` events (to the event's ``department_id``)          event time
回退数 returned      dispatches of P followed by a ``return`` of that dispatch       dispatch event time
                   (the next dispatch/return event of the case is a return)
处置数 handled       ``handle`` events (a rework handled again counts again)          event time
按期处置数           handle events no later than ``case.handle_due_at`` (the current  event time
                   deadline: extensions and suspensions included)
应处置数 due_handle  处置数 + dispatched cases with a department whose               ``case.handle_due_at``
                   ``handle_due_at`` falls in P, without a handle event in P and
                   not handled before P (``handled_at`` null or ``>= start``)
返工数 reworked      ``check`` events with ``to_status = 'dispatched'`` (check failed) event time
超期案件数 overdue   distinct cases with an ``overdue`` event (written by the SLA job  event time
                   when any stage passes its deadline)
平均处置用时         mean clock hours from ``case.handle_started_at`` (dispatch, or    handle event time
                   rework) to the handle event, over handle events of the current
                   handling period (``handle_started_at <= event time``)
受理数/作废数/…      the acting staff member's ``accept``/``void``/``merge``/          event time
                   ``send_verify``/``dispatch``/approve-reject/``urge``/``verify``/
                   ``check`` events (positions and supervisors)
=================  ==============================================================  ===================

Rates (``None`` — shown "—" — when the denominator is 0, never a division by zero):

- 结案率 = 结案数 ÷ 应结案数; 按期结案率 = 按期结案数 ÷ 应结案数
- 处置率 = 处置数 ÷ 应处置数; 按期处置率 = 按期处置数 ÷ 应处置数; 返工率 = 返工数 ÷ 处置数
- 回退率 = 回退数 ÷ 派遣数; 准确派遣率 = (派遣数 − 回退数) ÷ 派遣数
- 监督举报率 = 监督举报数 ÷ 上报数; 有效上报率 = 有效上报数 ÷ 上报数; 按期立案率 = 按期立案数 ÷ 立案数

平均处置用时 is in clock hours, nights and holidays included. ``WorkCalendar.elapsed`` can measure working
time, but only one interval at a time in Python; the evaluation must aggregate a month of a
million-case city in SQL in well under a second, so it measures clock time. (Working hours would need
the handling time stored on the case when it is handled.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

Number = int | float


class Kind(StrEnum):
    COUNT = "count"
    RATE = "rate"  # a fraction 0..1, shown as a percentage
    HOURS = "hours"
    SCORE = "score"  # 0..100


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    kind: Kind


def _i(key: str, label: str, kind: Kind = Kind.COUNT) -> Indicator:
    return Indicator(key, label, kind)


INDICATORS: dict[str, Indicator] = {
    i.key: i
    for i in (
        _i("reports", "上报数"),
        _i("supervisor_reports", "监督举报数"),
        _i("supervisor_report_rate", "监督举报率", Kind.RATE),
        _i("valid_reports", "有效上报数"),
        _i("valid_report_rate", "有效上报率", Kind.RATE),
        _i("registered", "立案数"),
        _i("ontime_registered", "按期立案数"),
        _i("ontime_register_rate", "按期立案率", Kind.RATE),
        _i("due_close", "应结案数"),
        _i("closed", "结案数"),
        _i("ontime_closed", "按期结案数"),
        _i("close_rate", "结案率", Kind.RATE),
        _i("ontime_close_rate", "按期结案率", Kind.RATE),
        _i("dispatched", "派遣数"),
        _i("returned", "回退数"),
        _i("return_rate", "回退率", Kind.RATE),
        _i("accurate_dispatch_rate", "准确派遣率", Kind.RATE),
        _i("due_handle", "应处置数"),
        _i("handled", "处置数"),
        _i("ontime_handled", "按期处置数"),
        _i("handle_rate", "处置率", Kind.RATE),
        _i("ontime_handle_rate", "按期处置率", Kind.RATE),
        _i("reworked", "返工数"),
        _i("rework_rate", "返工率", Kind.RATE),
        _i("avg_handle_hours", "平均处置用时（小时）", Kind.HOURS),
        _i("overdue_cases", "超期案件数"),
        _i("accepted", "受理数"),
        _i("sent_verify", "派发核实数"),
        _i("voided", "作废数"),
        _i("merged", "合并数"),
        _i("decisions", "审批数"),
        _i("urges", "督办数"),
        _i("sent_check", "派发核查数"),
        _i("verified", "核实数"),
        _i("checked", "核查数"),
        _i("actions", "办件总数"),
        _i("score", "得分", Kind.SCORE),
    )
}

# The raw counts the queries return (sums of hours are carried with their number of terms).
RAW_COUNTS = (
    "reports",
    "supervisor_reports",
    "valid_reports",
    "registered",
    "ontime_registered",
    "closed",
    "ontime_closed",
    "due_not_closed",
    "dispatched",
    "returned",
    "handled",
    "ontime_handled",
    "due_not_handled",
    "reworked",
    "overdue_cases",
    "accepted",
    "sent_verify",
    "voided",
    "merged",
    "decisions",
    "urges",
    "sent_check",
    "verified",
    "checked",
    "actions",
    "handle_hours_n",
)


def ratio(numerator: Number, denominator: Number) -> float | None:
    """A rate, or None when there is nothing to divide by."""
    return None if not denominator else numerator / denominator


def derive(raw: Mapping[str, Number]) -> dict[str, Number | None]:
    """Every indicator of one row from its raw counts (missing counts are 0)."""

    def n(key: str) -> Number:
        return raw.get(key, 0) or 0

    due_close = n("closed") + n("due_not_closed")
    due_handle = n("handled") + n("due_not_handled")
    values: dict[str, Number | None] = {key: n(key) for key in RAW_COUNTS}
    values.update(
        supervisor_report_rate=ratio(n("supervisor_reports"), n("reports")),
        valid_report_rate=ratio(n("valid_reports"), n("reports")),
        ontime_register_rate=ratio(n("ontime_registered"), n("registered")),
        due_close=due_close,
        close_rate=ratio(n("closed"), due_close),
        ontime_close_rate=ratio(n("ontime_closed"), due_close),
        due_handle=due_handle,
        handle_rate=ratio(n("handled"), due_handle),
        ontime_handle_rate=ratio(n("ontime_handled"), due_handle),
        rework_rate=ratio(n("reworked"), n("handled")),
        return_rate=ratio(n("returned"), n("dispatched")),
        accurate_dispatch_rate=ratio(n("dispatched") - n("returned"), n("dispatched")),
        avg_handle_hours=ratio(float(raw.get("handle_hours_sum", 0) or 0), n("handle_hours_n")),
    )
    return values


def display(value: Number | None, kind: Kind) -> str:
    """How a value reads on the page: "—" when it is undefined."""
    if value is None:
        return "—"
    if kind is Kind.RATE:
        return f"{value * 100:.1f}%"
    if kind in (Kind.HOURS, Kind.SCORE):
        return f"{value:.1f}"
    return str(int(value))
