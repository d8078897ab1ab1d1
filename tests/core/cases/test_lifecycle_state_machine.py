"""Random sequences of staff actions on a few cases, through the real service (``perform``).

A hypothesis state machine: citizens report cases (the real intake), and staff members of every role
try every action with inputs good and bad, half of them chosen among the moves the workflow allows
from where the case is. After every step the cases must be in a state the lifecycle allows, agree with
their history, keep their history and ledger append-only, and have deadlines that fit their state.

Each action runs in a savepoint, as the API's and the console's units of work do: a refused action is
rolled back and must leave every case as it was; one refused for its state or role (``illegal_transition``
/ ``action_forbidden``) must be refused before it touched anything at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from core.cases import intake
from core.cases.errors import ActionForbidden, IllegalTransition
from core.cases.service import ActionInput, perform
from core.cases.workflow import RULES, Action
from core.errors import DomainError, ErrorKind
from core.geo.coords import CoordSystem
from core.models import (
    Case,
    CaseEvent,
    CasePause,
    CaseRequest,
    CaseStatus,
    RequestStatus,
    RewardEntry,
    RewardReason,
    StaffRole,
    StaffUser,
)
from tests.fixtures.cases import City

S = CaseStatus
MAX_CASES = 4
TERMINAL = frozenset({S.VOIDED, S.MERGED})
WITH_SUPERVISOR = frozenset({S.VERIFYING, S.CHECKING})
WITH_DEPARTMENT = frozenset({S.DISPATCHED, S.SUSPENDED, S.HANDLED, S.CHECKING, S.CLOSED})
RARE = frozenset({Action.VOID, Action.MERGE, Action.URGE, Action.REOPEN})
# Where a successful action takes the case (None: it stays where it is; HANDLE and CHECK: see _targets).
TARGET: dict[Action, CaseStatus | None] = {
    Action.ACCEPT: S.ACCEPTED,
    Action.SEND_VERIFY: S.VERIFYING,
    Action.VERIFY: S.ACCEPTED,
    Action.REGISTER: S.REGISTERED,
    Action.VOID: S.VOIDED,
    Action.DISPATCH: S.DISPATCHED,
    Action.RETURN: S.REGISTERED,
    Action.REQUEST_EXTENSION: None,
    Action.APPROVE_EXTENSION: None,
    Action.REJECT_EXTENSION: None,
    Action.REQUEST_SUSPENSION: None,
    Action.APPROVE_SUSPENSION: S.SUSPENDED,
    Action.REJECT_SUSPENSION: None,
    Action.RESUME: S.DISPATCHED,
    Action.SEND_CHECK: S.CHECKING,
    Action.URGE: None,
    Action.REOPEN: S.REGISTERED,
    Action.MERGE: S.MERGED,
}


@dataclass(frozen=True)
class Snapshot:
    """One case as the database holds it (read with plain selects, not through the identity map)."""

    row: dict[str, Any]
    events: tuple[tuple[int, str, CaseStatus | None, CaseStatus, str], ...]  # id, action, from, to, role
    open_pauses: int
    pending: tuple[str, ...]  # kinds of the pending requests
    ledger: tuple[tuple[int, int, RewardReason], ...]  # id, points, reason

    @property
    def status(self) -> CaseStatus:
        return CaseStatus(self.row["status"])

    def at(self, name: str) -> datetime | None:
        value: datetime | None = self.row[name]
        return value


def snapshot(session: Session, case_id: int) -> Snapshot:
    table = sa.inspect(Case).local_table
    row = session.execute(sa.select(table).where(table.c.id == case_id)).mappings().one()
    events = session.exec(
        select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.id))
    ).all()
    pauses = session.exec(select(CasePause).where(col(CasePause.case_id) == case_id)).all()
    requests = session.exec(select(CaseRequest).where(col(CaseRequest.case_id) == case_id)).all()
    entries = session.exec(
        select(RewardEntry).where(col(RewardEntry.case_id) == case_id).order_by(col(RewardEntry.id))
    ).all()
    return Snapshot(
        row=dict(row),
        events=tuple((e.id or 0, e.action, e.from_status, e.to_status, e.actor_role) for e in events),
        open_pauses=sum(1 for pause in pauses if pause.ended_at is None),
        pending=tuple(sorted(r.kind.value for r in requests if r.status is RequestStatus.PENDING)),
        ledger=tuple((e.id or 0, e.points, e.reason) for e in entries),
    )


@dataclass(frozen=True)
class Draft:
    """An action's input as drawn; resolved against the case when it is tried."""

    note: str
    reason: str
    reply: str
    department: str | None
    standard: str | None  # "own", "other" (another category's), or None
    category: str | None
    photo: bool
    amount: Decimal | None
    passed: bool | None
    target: str | None  # "other", "self", "unknown" or None
    supervisor: str | None  # "on_duty", "not_supervisor" or None
    version: str | None  # "current", "stale" or None


def drafts(*, sensible: bool) -> st.SearchStrategy[Draft]:
    """Inputs; ``sensible`` ones are what a careful user sends (still not always enough)."""
    text = st.sampled_from(["现场已处理", "需要协调"]) if sensible else st.sampled_from(["", " ", "说明"])
    return st.builds(
        Draft,
        note=text,
        reason=text,
        reply=text,
        department=st.none() | st.sampled_from(["M01", "S01"] if sensible else ["M01", "S01", "NOPE"]),
        standard=st.just("own") if sensible else st.sampled_from([None, "own", "other"]),
        category=st.none() | st.sampled_from(["BJ0101", "SJ0102"] if sensible else ["BJ0101", "ZZ9999"]),
        photo=st.just(True) if sensible else st.booleans(),
        amount=st.sampled_from([Decimal(1), Decimal("0.5")]) if sensible else st.none() | st.just(Decimal(1)),
        passed=st.booleans() if sensible else st.none() | st.booleans(),
        target=st.just("other") if sensible else st.sampled_from([None, "other", "self", "unknown"]),
        supervisor=st.none() if sensible else st.sampled_from([None, "on_duty", "not_supervisor"]),
        version=st.sampled_from([None, "current"])
        if sensible
        else st.sampled_from([None, "current", "stale"]),
    )


class Lifecycle(RuleBasedStateMachine):
    cases = Bundle("cases")

    def __init__(self, city: City, actors: dict[str, StaffUser]) -> None:
        super().__init__()
        self.city = city
        self.session = city.session
        self.actors = actors
        self.savepoint = self.session.begin_nested()  # one example's world, rolled back in teardown
        self.ids: dict[str, int] = {}
        self.seen: dict[str, Snapshot] = {}

    def teardown(self) -> None:
        self.savepoint.rollback()
        # A reported case joins the session as already persistent (the intake inserts it with one
        # statement), so the rollback keeps it in the identity map: drop it, its id may come again.
        for case_id in self.ids.values():
            if (case := self.session.identity_map.get(identity_key(Case, case_id))) is not None:
                self.session.expunge(case)
        self.session.expire_all()

    # ------------------------------------------------------------------------------------ rules

    @initialize(target=cases)
    def first_report(self) -> str:
        return self._report()

    @precondition(lambda self: len(self.ids) < MAX_CASES)
    @rule(target=cases)
    def another_report(self) -> str:
        return self._report()

    @rule(on_duty=st.booleans())
    def supervisor_duty(self, on_duty: bool) -> None:
        supervisor = self.city.staff[StaffRole.SUPERVISOR]
        supervisor.on_duty = on_duty
        self.session.add(supervisor)
        self.session.flush()

    @rule(case_no=cases, moves=st.integers(1, 4), data=st.data())
    def allowed_moves(self, case_no: str, moves: int, data: st.DataObject) -> None:
        """A few actions in a row that the workflow allows from where the case is, each by someone
        entitled to it (ending a case — void, merge — is drawn less often, so cases get far)."""
        for _ in range(moves):
            current = self.seen[case_no]
            actions = [action for action in Action if current.status in RULES[action].sources]
            if not actions:
                return  # voided or merged: nothing is allowed any more (the other rule tries anyway)
            weighted = [a for a in actions for _ in range(1 if a in RARE else 4)]
            action = data.draw(st.sampled_from(weighted), label="action")
            actor = self._entitled(current, action, data)
            self._attempt(case_no, action, actor, data.draw(drafts(sensible=True), label="input"))

    @rule(
        case_no=cases,
        action=st.sampled_from(list(Action)),
        actor=st.sampled_from(
            [
                "operator",
                "shift_lead",
                "dispatcher",
                "supervisor",
                "supervisor_2",
                "handler",
                "handler_s01",
                "leader",
                "admin",
            ]
        ),
        draft=drafts(sensible=False),
    )
    def any_move(self, case_no: str, action: Action, actor: str, draft: Draft) -> None:
        """Anyone trying anything, legal or not."""
        self._attempt(case_no, action, self.actors[actor], draft)

    # ------------------------------------------------------------------------------- invariants

    @invariant()
    def cases_keep_their_rules(self) -> None:
        for case_no, case_id in self.ids.items():
            now = snapshot(self.session, case_id)
            before = self.seen[case_no]
            assert now.events[: len(before.events)] == before.events, "history rewritten"
            assert now.ledger[: len(before.ledger)] == before.ledger, "ledger rewritten"
            assert now.status == before.status, "status changed outside an action"
            check_case(now)
            self.seen[case_no] = now

    # ---------------------------------------------------------------------------------- helpers

    def _report(self) -> str:
        citizen = self.city.citizen()  # each case its own reporter: the daily points cap stays out of it
        lng, lat = self.city.point(len(self.ids) % 2, 0)
        case, created = intake.report_by_citizen(
            self.session,
            self.city.settings,
            citizen=citizen,
            data=intake.ReportInput(
                category_code="BJ0101",
                description="人行道井盖缺失，夜里很危险",
                lng=lng,
                lat=lat,
                coord=CoordSystem.WGS84,
            ),
            idempotency_key=None,
        )
        assert created
        assert case.id is not None
        self.ids[case.case_no] = case.id
        self.seen[case.case_no] = snapshot(self.session, case.id)
        assert self.seen[case.case_no].status is S.PENDING
        assert [e[1:4] for e in self.seen[case.case_no].events] == [("report", None, S.PENDING)]
        return case.case_no

    def _entitled(self, current: Snapshot, action: Action, data: st.DataObject) -> StaffUser:
        rule_ = RULES[action]
        if rule_.scope == "assigned":
            supervisor_id = current.row["assigned_supervisor_id"]
            return next(a for a in self.actors.values() if a.id == supervisor_id)
        if rule_.scope == "department":
            department_id = current.row["department_id"]
            return next(
                a
                for a in self.actors.values()
                if a.role is StaffRole.HANDLER and a.department_id == department_id
            )
        role = data.draw(st.sampled_from(sorted(rule_.roles)), label="role")
        return self.city.staff[role]

    def _input(self, case_no: str, actor: StaffUser, draft: Draft) -> ActionInput:
        current = self.seen[case_no]
        others = [no for no in self.ids if no != case_no]
        standards = {
            "own": self.city.manhole_loose.id
            if current.row["category_id"] == self.city.manhole.id
            else self.city.rubbish_std.id,
            "other": self.city.rubbish_std.id
            if current.row["category_id"] == self.city.manhole.id
            else self.city.manhole_urgent.id,
        }
        targets: dict[str | None, str | None] = {
            None: None,
            "other": others[0] if others else case_no,
            "self": case_no,
            "unknown": "NOPE0000",
        }
        supervisors = {
            None: None,
            "on_duty": self.city.staff[StaffRole.SUPERVISOR].id,
            "not_supervisor": self.city.staff[StaffRole.OPERATOR].id,
        }
        version = current.row["version"]
        return ActionInput(
            note=draft.note,
            reason=draft.reason,
            reply=draft.reply,
            department_code=draft.department,
            register_standard_id=standards[draft.standard] if draft.standard else None,
            category_code=draft.category,
            upload_ids=(self.city.upload(actor),) if draft.photo else (),
            amount=draft.amount,
            passed=draft.passed,
            target_case_no=targets[draft.target],
            supervisor_id=supervisors[draft.supervisor],
            expected_version={None: None, "current": version, "stale": version - 1}[draft.version],
        )

    def _refusal(self, current: Snapshot, action: Action, actor: StaffUser) -> type[DomainError] | None:
        """What the workflow table says before anything else: wrong state, then wrong role or scope."""
        rule_ = RULES[action]
        if current.status not in rule_.sources:
            return IllegalTransition
        if actor.role not in rule_.roles:
            return ActionForbidden
        if rule_.scope == "assigned" and current.row["assigned_supervisor_id"] != actor.id:
            return ActionForbidden
        if rule_.scope == "department" and (
            actor.department_id is None or actor.department_id != current.row["department_id"]
        ):
            return ActionForbidden
        return None

    def _attempt(self, case_no: str, action: Action, actor: StaffUser, draft: Draft) -> None:
        data = self._input(case_no, actor, draft)
        self.session.flush()
        before = {no: snapshot(self.session, case_id) for no, case_id in self.ids.items()}
        refusal = self._refusal(before[case_no], action, actor)
        savepoint = self.session.begin_nested()
        error: DomainError | None = None
        try:
            perform(self.session, self.city.settings, case_no=case_no, actor=actor, action=action, data=data)
        except DomainError as exc:
            error = exc
        if error is not None:
            event(f"{action.value}: {error.code}")
            if refusal is not None:
                assert isinstance(error, refusal), f"{action} by {actor.role}: {error.code}, not {refusal}"
                touched = [o for o in self.session.dirty if self.session.is_modified(o)]
                assert not self.session.new, f"{error.code} after adding {self.session.new}"
                assert not touched, f"{error.code} after changing {touched}"
            else:
                assert error.kind in {ErrorKind.INVALID, ErrorKind.CONFLICT, ErrorKind.NOT_FOUND}, error.code
            savepoint.rollback()
            after = {no: snapshot(self.session, case_id) for no, case_id in self.ids.items()}
            assert after == before, f"refused {action} ({error.code}) left changes behind"
            return
        event(f"{action.value}: done")
        savepoint.commit()
        assert refusal is None, f"{action} by {actor.role} from {before[case_no].status} was not refused"
        assert data.expected_version in {None, before[case_no].row["version"]}, "stale version accepted"
        after = {no: snapshot(self.session, case_id) for no, case_id in self.ids.items()}
        self._check_move(case_no, action, data, before, after)

    def _check_move(
        self,
        case_no: str,
        action: Action,
        data: ActionInput,
        before: dict[str, Snapshot],
        after: dict[str, Snapshot],
    ) -> None:
        old, new = before[case_no], after[case_no]
        assert new.row["version"] > old.row["version"], f"{action} did not bump the version"
        added = [e[1:5] for e in new.events[len(old.events) :]]
        assert added, f"{action} wrote no history"
        first = added[0]
        assert first[:2] == (action.value, old.status), added
        for target_status in _targets(action, old.status, data):
            if new.status is target_status:
                break
        else:
            raise AssertionError(f"{action} from {old.status} ended in {new.status}")
        if action is Action.HANDLE and new.status is S.CHECKING:
            # No one waits: an on-duty supervisor is sent at once, by the system, in the same step.
            assert added[1:] == [("send_check", S.HANDLED, S.CHECKING, "system")], added
        else:
            assert added == [(*first[:2], new.status, first[3])], added
        changed = {no for no in before if no != case_no and after[no] != before[no]}
        if action is Action.MERGE:
            target = data.target_case_no
            assert changed <= {target}, changed
            assert after[str(target)].events[len(before[str(target)].events) :][0][1] == "merged_in"
        else:
            assert not changed, f"{action} on {case_no} changed {changed}"
        if action is Action.REGISTER:
            assert sum(points for _, points, _ in new.ledger) > 0, "registration earned nothing"
        self.seen.update(after)


def _targets(action: Action, status: CaseStatus, data: ActionInput) -> tuple[CaseStatus, ...]:
    if action is Action.HANDLE:
        return (S.HANDLED, S.CHECKING)
    if action is Action.CHECK:
        return (S.CLOSED,) if data.passed else (S.DISPATCHED,)
    target = TARGET[action]
    return (target if target is not None else status,)


def check_case(case: Snapshot) -> None:
    """The rules a case keeps in every state, from its row, history, pauses, requests and ledger."""
    status, row, events = case.status, case.row, case.events
    # The history tells the story that led here: a report, then moves that each start where the last ended.
    assert events[0][1:4] == ("report", None, S.PENDING), events[:1]
    for previous, step in itertools.pairwise(events):
        assert step[2] == previous[3], f"history jumps: {previous} then {step}"
        assert previous[3] is not S.CLOSED or step[1] == "reopen", f"left 已结案 by {step[1]}"
        assert previous[3] not in TERMINAL, f"{step[1]} after {previous[3]}"
    assert events[-1][3] == status, "history and status disagree"
    # Who holds the case.
    assert (row["assigned_supervisor_id"] is not None) == (status in WITH_SUPERVISOR), row
    assert (row["department_id"] is not None) == (status in WITH_DEPARTMENT), row
    # Deadlines and clocks.
    assert row["register_due_at"] is not None
    if status is S.REGISTERED:
        registered, dispatch_due = case.at("registered_at"), case.at("dispatch_due_at")
        assert registered is not None
        assert dispatch_due is not None
        assert row["handle_started_at"] is None
        provisional = case.at("handle_due_at")  # the department's limit counted from the dispatch deadline
        assert provisional is not None
        assert provisional > dispatch_due, (dispatch_due, provisional)
    if status in {S.REGISTERED, S.DISPATCHED, S.SUSPENDED}:  # a new handling period: nothing handled yet
        assert row["handled_at"] is None
        assert row["check_due_at"] is None
    if status is S.DISPATCHED:
        started, due = case.at("handle_started_at"), case.at("handle_due_at")
        assert started is not None
        assert due is not None
        assert due > started, (started, due)
    if status is S.SUSPENDED:
        assert row["handle_due_at"] is None, "the clock must stand still while suspended"
    assert case.open_pauses == (1 if status is S.SUSPENDED else 0), (status, case.open_pauses)
    if status in {S.HANDLED, S.CHECKING}:
        handled, check_due = case.at("handled_at"), case.at("check_due_at")
        assert handled is not None
        assert check_due is not None
        assert check_due > handled, (handled, check_due)
    assert (row["closed_at"] is not None) == (status is S.CLOSED), row["closed_at"]
    # Requests are about the current handling only, one of each kind at a time.
    assert not case.pending or status in {S.DISPATCHED, S.SUSPENDED}, (status, case.pending)
    assert len(set(case.pending)) == len(case.pending), case.pending
    # Points: earned once when registered, taken back once when voided or merged.
    total = sum(points for _, points, _ in case.ledger)
    reversals = [entry for entry in case.ledger if entry[2] is RewardReason.REGISTRATION_VOIDED]
    assert total >= 0, case.ledger
    assert len(reversals) <= 1, case.ledger
    if row["registered_at"] is None:
        assert not case.ledger, case.ledger
    elif status in TERMINAL:
        assert total == 0, case.ledger
    else:
        assert total > 0, case.ledger


def test_random_action_sequences_keep_the_lifecycle(session: Session, city: City) -> None:
    second_supervisor = city.staff_member(StaffRole.SUPERVISOR, name="监督员乙")  # off duty, never assigned
    sanitation_handler = city.staff_member(StaffRole.HANDLER, department=city.sanitation, name="环卫处置")
    actors = {role.value: user for role, user in city.staff.items()}
    actors |= {"supervisor_2": second_supervisor, "handler_s01": sanitation_handler}
    session.flush()
    machine: Callable[[], Lifecycle] = lambda: Lifecycle(city, actors)  # noqa: E731
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
