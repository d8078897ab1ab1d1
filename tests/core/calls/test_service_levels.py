"""Hotline service levels: the SQL aggregates against direct counts, by day, agent and line."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.calls.service_levels import NO_AGENT, GroupBy, LevelRow, service_levels
from core.kit.clock import SHANGHAI
from core.kit.sqltypes import UTCDateTime
from core.models import (
    Call,
    CallDirection,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
    StaffRole,
    StaffUser,
)
from tests.fixtures.cases import City

# A period no other test writes calls in (the session is rolled back anyway).
DAY1 = datetime(2031, 3, 1, tzinfo=SHANGHAI)
DAY2 = DAY1 + timedelta(days=1)
END = DAY1 + timedelta(days=2)


def add_call(
    session: Session,
    started: datetime,
    *,
    line: str = "12319",
    agent: StaffUser | None = None,
    hold_s: int | None = None,
    talk_s: int | None = None,
    outcome: CallOutcome = CallOutcome.ANSWERED,
    direction: CallDirection = CallDirection.INBOUND,
) -> Call:
    answered = outcome is CallOutcome.ANSWERED
    call = Call(
        linkedid=f"sl-{secrets.token_hex(8)}",
        direction=direction,
        line=line,
        caller_number=f"139{secrets.randbelow(10**8):08d}",
        agent_staff_id=agent.id if agent and answered else None,
        state=CallState.ENDED,
        outcome=outcome,
        started_at=started.astimezone(UTC),
        answered_at=started + timedelta(seconds=hold_s or 0) if answered else None,
        ended_at=started + timedelta(seconds=(hold_s or 0) + (talk_s or 0) + 1),
        hold_s=hold_s,
        talk_s=talk_s,
    )
    session.add(call)
    session.flush()
    return call


def add_callback(
    session: Session, call: Call, status: CallTaskStatus, agent: StaffUser | None = None
) -> None:
    session.add(
        CallTask(
            kind=CallTaskKind.CALLBACK,
            number=call.caller_number,
            call_id=call.id,
            status=status,
            assigned_staff_id=agent.id if agent else None,
        )
    )
    session.flush()


def seed(session: Session, city: City) -> tuple[StaffUser, StaffUser]:
    a = city.staff_member(StaffRole.OPERATOR, name="坐席甲")
    b = city.staff_member(StaffRole.OPERATOR, name="坐席乙")
    a.agent_interface, b.agent_interface = "PJSIP/8101", "PJSIP/8102"
    session.flush()
    at = DAY1 + timedelta(hours=9)
    add_call(session, at, agent=a, hold_s=5, talk_s=100)
    add_call(session, at + timedelta(minutes=1), agent=a, hold_s=15, talk_s=60)
    add_call(session, at + timedelta(minutes=2), agent=b, hold_s=40, talk_s=200, line="12345")
    add_call(session, at + timedelta(minutes=3), agent=b, hold_s=None, talk_s=30)  # no queue: 0 s
    abandoned = add_call(session, at + timedelta(minutes=4), hold_s=30, outcome=CallOutcome.ABANDONED)
    missed = add_call(session, at + timedelta(minutes=5), line="12345", outcome=CallOutcome.MISSED)
    add_callback(session, abandoned, CallTaskStatus.DONE, a)
    add_callback(session, missed, CallTaskStatus.PENDING, a)
    # Day 2, 23:30 local (15:30 UTC: the local day, not the UTC day, counts).
    late = DAY2 + timedelta(hours=23, minutes=30)
    add_call(session, late, agent=a, hold_s=3, talk_s=50)
    missed2 = add_call(session, late + timedelta(minutes=1), outcome=CallOutcome.MISSED)
    add_callback(session, missed2, CallTaskStatus.DONE, b)
    # Outside: an outbound call in the period and an inbound call just after it.
    add_call(session, at, agent=a, hold_s=0, talk_s=10, direction=CallDirection.OUTBOUND)
    add_call(session, END + timedelta(minutes=1), agent=a, hold_s=1, talk_s=10)
    return a, b


TIMES = ("start", "end", "d1", "d2")


def run(session: Session, sql: str, params: dict[str, object]) -> sa.Result[Any]:
    statement = sa.text(sql).bindparams(
        *(sa.bindparam(name, type_=UTCDateTime) for name in TIMES if name in params)
    )
    return session.execute(statement, params)


def direct(session: Session, where: str = "1=1", **params: object) -> dict[str, object]:
    """The same numbers counted straight in SQL (no grouping)."""
    sql = f"""
        SELECT count(*) AS offered,
               sum(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
               sum(CASE WHEN answered_at IS NOT NULL AND coalesce(hold_s, 0) <= 15 THEN 1 ELSE 0 END) AS fast,
               sum(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
               avg(hold_s) AS hold,
               avg(CASE WHEN answered_at IS NOT NULL THEN talk_s END) AS talk
        FROM call
        WHERE direction = 'inbound' AND started_at >= :start AND started_at < :end AND {where}
    """
    row = run(session, sql, {"start": DAY1, "end": END, **params}).mappings().one()
    return dict(row)


def direct_callbacks(session: Session, where: str = "1=1", **params: object) -> tuple[int, int]:
    sql = f"""
        SELECT count(*), sum(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END)
        FROM call_task t JOIN call c ON c.id = t.call_id
        WHERE t.kind = 'callback' AND c.direction = 'inbound'
          AND c.started_at >= :start AND c.started_at < :end AND {where}
    """
    created, done = run(session, sql, {"start": DAY1, "end": END, **params}).one()
    return int(created), int(done or 0)


def assert_matches(row: LevelRow, counts: dict[str, object], callbacks: tuple[int, int]) -> None:
    assert row.offered == counts["offered"]
    assert row.answered == counts["answered"]
    assert row.answered_in_target == counts["fast"]
    assert row.abandoned == counts["abandoned"]
    for mine, theirs in ((row.avg_hold_s, counts["hold"]), (row.avg_talk_s, counts["talk"])):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            assert abs(mine - float(theirs)) < 1e-6  # type: ignore[arg-type]
    assert (row.callbacks_created, row.callbacks_done) == callbacks


def test_total_matches_direct_counts_and_hand_figures(session: Session, city: City) -> None:
    seed(session, city)
    levels = service_levels(session, group_by=GroupBy.DAY, start_at=DAY1, end_at=END)
    total = levels.total
    assert_matches(total, direct(session), direct_callbacks(session))
    # By hand: 8 offered, 5 answered (4 within 15 s), 1 abandoned, call-backs 2 of 3 done.
    assert (total.offered, total.answered, total.answered_in_target, total.abandoned) == (8, 5, 4, 1)
    assert total.connected_rate == 5 / 8
    assert total.in_target_rate == 4 / 8
    assert total.abandon_rate == 1 / 8
    assert total.avg_hold_s == (5 + 15 + 40 + 30 + 3) / 5
    assert total.avg_talk_s == (100 + 60 + 200 + 30 + 50) / 5
    assert (total.callbacks_created, total.callbacks_done) == (3, 2)
    assert total.callback_rate == 2 / 3
    assert not total.connected_ok


def test_by_local_day(session: Session, city: City) -> None:
    seed(session, city)
    levels = service_levels(session, group_by=GroupBy.DAY, start_at=DAY1, end_at=END)
    assert [row.key for row in levels.rows] == ["2031-03-01", "2031-03-02"]
    first, second = levels.rows
    counts = direct(session, "started_at >= :d1 AND started_at < :d2", d1=DAY1, d2=DAY2)
    assert_matches(first, counts, direct_callbacks(session, "c.started_at < :d2", d2=DAY2))
    assert (second.offered, second.answered, second.callbacks_created, second.callbacks_done) == (2, 1, 1, 1)
    assert first.offered + second.offered == levels.total.offered


def test_by_agent(session: Session, city: City) -> None:
    a, _b = seed(session, city)
    levels = service_levels(session, group_by=GroupBy.AGENT, start_at=DAY1, end_at=END)
    rows = {row.key: row for row in levels.rows}
    assert set(rows) == {"坐席甲（PJSIP/8101）", "坐席乙（PJSIP/8102）", NO_AGENT}
    row_a = rows["坐席甲（PJSIP/8101）"]
    counts = direct(session, "agent_staff_id = :agent", agent=a.id)
    callbacks = session.execute(
        sa.text(
            "SELECT count(*), sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END) FROM call_task "
            "WHERE kind = 'callback' AND assigned_staff_id = :agent"
        ),
        {"agent": a.id},
    ).one()
    assert_matches(row_a, counts, (int(callbacks[0]), int(callbacks[1] or 0)))
    assert (row_a.offered, row_a.answered, row_a.callbacks_created, row_a.callbacks_done) == (3, 3, 2, 1)
    assert rows[NO_AGENT].offered == 3
    assert rows[NO_AGENT].answered == 0
    assert levels.rows[-1].key == NO_AGENT
    assert rows["坐席乙（PJSIP/8102）"].answered_in_target == 1  # 40 s in the queue is too long


def test_by_line(session: Session, city: City) -> None:
    seed(session, city)
    levels = service_levels(session, group_by=GroupBy.LINE, start_at=DAY1, end_at=END)
    rows = {row.key: row for row in levels.rows}
    assert set(rows) == {"12319", "12345"}
    for line, row in rows.items():
        assert_matches(
            row,
            direct(session, "line = :line", line=line),
            direct_callbacks(session, "c.line = :line", line=line),
        )
    assert rows["12345"].offered == 2
    assert sum(row.offered for row in levels.rows) == levels.total.offered


def test_empty_period(session: Session) -> None:
    start = datetime(2032, 1, 1, tzinfo=SHANGHAI)
    levels = service_levels(session, group_by=GroupBy.LINE, start_at=start, end_at=start + timedelta(days=1))
    assert levels.rows == []
    assert levels.total.offered == 0
    assert levels.total.connected_rate is None
    assert levels.total.connected_ok
