"""Case listings: filters, sort orders, keyset pages (every row exactly once, ties included), capped
counts and the due-soon queue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from core.cases import listing, queues
from core.cases.listing import Criteria, Cursor, Direction, Sort
from core.cases.queues import Queue
from core.errors import Invalid
from core.kit.clock import utcnow
from core.models import Case, CaseStatus, Channel, StaffRole
from core.models.cases import CaseFollower
from tests.fixtures.cases import City, MakeCase

DEFAULT = (Sort.DEADLINE, Direction.ASC)


def _ids(cases: list[Case]) -> sa.ColumnElement[bool]:
    return col(Case.id).in_([case.id for case in cases])


def _walk(
    session: Session, cases: list[Case], sort: Sort, direction: Direction, limit: int
) -> tuple[list[int], list[int]]:
    """All pages forwards, then all pages backwards from the end: the ids in the order shown."""
    forward: list[int] = []
    pages: list[listing.Page] = []
    after: Cursor | None = None
    while True:
        found = listing.page(session, [_ids(cases)], sort=sort, direction=direction, limit=limit, after=after)
        pages.append(found)
        forward += [row.id for row in found.rows]
        assert len(found.rows) <= limit
        if found.next is None:
            break
        after = found.next
    backward: list[int] = []
    current = pages[-1]
    backward = [row.id for row in current.rows]
    while current.previous is not None:
        current = listing.page(
            session, [_ids(cases)], sort=sort, direction=direction, limit=limit, before=current.previous
        )
        backward = [row.id for row in current.rows] + backward
    return forward, backward


def _expected(cases: list[Case], sort: Sort, direction: Direction) -> list[int]:
    def key(case: Case) -> tuple[object, int]:
        if sort is Sort.REPORTED:
            value: object = case.created_at
        elif sort is Sort.STATUS:
            value = listing.STATUS_ORDER.index(case.status)
        else:
            deadline = queues.current_deadline(case)
            missing = listing.FAR_FUTURE if direction is Direction.ASC else listing.EPOCH
            value = deadline or missing
        assert case.id is not None
        return value, case.id

    ordered = sorted(cases, key=key, reverse=direction is Direction.DESC)
    return [case.id for case in ordered if case.id is not None]


@pytest.fixture
def tied_cases(session: Session, make_case: MakeCase) -> list[Case]:
    """Eleven cases whose sort keys tie in groups (same report time, same deadline, same status)."""
    base = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    statuses = [CaseStatus.PENDING, CaseStatus.REGISTERED, CaseStatus.DISPATCHED, CaseStatus.SUSPENDED]
    cases = []
    for index in range(11):
        case = make_case(statuses[index % len(statuses)])
        case.created_at = base + timedelta(hours=index // 3)  # groups of three share a report time
        due = base + timedelta(days=1 + index // 4)  # groups of four share a deadline
        case.register_due_at = case.dispatch_due_at = case.handle_due_at = due
        session.add(case)
        cases.append(case)
    session.flush()
    return cases


@pytest.mark.parametrize("sort", list(Sort))
@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("limit", [1, 3, 4, 11, 20])
def test_keyset_pages_show_every_row_exactly_once_in_order(
    session: Session, tied_cases: list[Case], sort: Sort, direction: Direction, limit: int
) -> None:
    forward, backward = _walk(session, tied_cases, sort, direction, limit)
    expected = _expected(tied_cases, sort, direction)
    assert forward == expected
    assert backward == expected


def test_first_page_has_no_previous_and_last_page_no_next(session: Session, tied_cases: list[Case]) -> None:
    first = listing.page(session, [_ids(tied_cases)], sort=Sort.REPORTED, direction=Direction.ASC, limit=5)
    assert first.previous is None
    assert first.next is not None
    second = listing.page(
        session, [_ids(tied_cases)], sort=Sort.REPORTED, direction=Direction.ASC, limit=5, after=first.next
    )
    assert second.previous is not None
    back = listing.page(
        session,
        [_ids(tied_cases)],
        sort=Sort.REPORTED,
        direction=Direction.ASC,
        limit=5,
        before=second.previous,
    )
    assert [row.id for row in back.rows] == [row.id for row in first.rows]
    assert back.previous is None


def test_a_page_past_the_end_offers_the_way_back(session: Session, tied_cases: list[Case]) -> None:
    last = max(case.id for case in tied_cases if case.id is not None)
    beyond = Cursor(listing._micros(listing.FAR_FUTURE), last)
    found = listing.page(
        session, [_ids(tied_cases)], sort=Sort.REPORTED, direction=Direction.ASC, limit=5, after=beyond
    )
    assert found.rows == []
    assert found.previous == beyond
    assert found.next is None


def test_deadline_sort_puts_cases_without_a_deadline_last_both_ways(
    session: Session, make_case: MakeCase
) -> None:
    now = utcnow()
    suspended = make_case(CaseStatus.SUSPENDED)
    early, late = make_case(CaseStatus.DISPATCHED), make_case(CaseStatus.REGISTERED)
    early.handle_due_at = now + timedelta(hours=1)
    late.dispatch_due_at = now + timedelta(hours=5)
    late.handle_due_at = now - timedelta(days=3)  # not its current stage: ignored
    session.add_all([early, late])
    session.flush()
    cases = [suspended, early, late]
    for direction, expected in (
        (Direction.ASC, [early, late, suspended]),
        (Direction.DESC, [late, early, suspended]),
    ):
        found = listing.page(session, [_ids(cases)], sort=Sort.DEADLINE, direction=direction, limit=10)
        assert [row.case_no for row in found.rows] == [case.case_no for case in expected]
    row = listing.page(session, [_ids([early])], sort=Sort.DEADLINE, direction=Direction.ASC, limit=1).rows[0]
    assert row.deadline == early.handle_due_at


def test_status_sort_follows_the_workflow(session: Session, make_case: MakeCase) -> None:
    cases = [make_case(status) for status in (CaseStatus.CHECKING, CaseStatus.PENDING, CaseStatus.DISPATCHED)]
    found = listing.page(session, [_ids(cases)], sort=Sort.STATUS, direction=Direction.ASC, limit=10)
    assert [row.status for row in found.rows] == [
        CaseStatus.PENDING,
        CaseStatus.DISPATCHED,
        CaseStatus.CHECKING,
    ]


def test_a_row_carries_category_department_and_followers(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    case.address = "渝水区仙来西大道 8 号"
    for _ in range(3):
        citizen = city.citizen()
        assert case.id is not None
        assert citizen.id is not None
        session.add(CaseFollower(case_id=case.id, citizen_id=citizen.id))
    session.flush()
    (row,) = listing.page(session, [_ids([case])], sort=Sort.REPORTED, direction=Direction.ASC, limit=5).rows
    assert (row.case_no, row.category, row.major_category) == (case.case_no, "上水井盖", "测试大类")
    assert row.department == city.municipal.name
    assert row.followers == 3
    assert row.address == "渝水区仙来西大道 8 号"


def _matching(session: Session, cases: list[Case], **params: str) -> set[str]:
    criteria = Criteria.parse(params, default_sort=DEFAULT)
    conditions = [_ids(cases), *listing.filter_conditions(session, criteria)]
    found = listing.page(session, conditions, sort=Sort.REPORTED, direction=Direction.ASC, limit=100)
    return {row.case_no for row in found.rows}


def test_filters(session: Session, city: City, make_case: MakeCase) -> None:
    manhole, rubbish, other_street = (make_case(CaseStatus.DISPATCHED) for _ in range(3))
    rubbish.category_id = city.rubbish.id
    rubbish.department_id = city.sanitation.id
    rubbish.channel = Channel.HOTLINE
    rubbish.description = "路边垃圾堆积"
    rubbish.address = "胜利北路 12 号"
    rubbish.created_at = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 2 March in Shanghai
    manhole.created_at = datetime(2026, 3, 1, 15, 59, tzinfo=UTC)  # 1 March 23:59 in Shanghai
    other_community = city.factory.area_tree(street="002", community="001")
    other_street.community_code = other_community.code
    other_street.street_code = other_community.code[:9]
    session.add_all([manhole, rubbish, other_street])
    session.flush()
    cases = [manhole, rubbish, other_street]
    every = {case.case_no for case in cases}

    assert _matching(session, cases) == every
    assert _matching(session, cases, category="SJ0102") == {rubbish.case_no}
    assert _matching(session, cases, category="BJ01") == {manhole.case_no, other_street.case_no}
    assert _matching(session, cases, area=city.community.code) == {manhole.case_no, rubbish.case_no}
    assert _matching(session, cases, area=city.community.code[:9]) == {manhole.case_no, rubbish.case_no}
    assert _matching(session, cases, area=other_community.code[:9]) == {other_street.case_no}
    assert _matching(session, cases, department=city.sanitation.code) == {rubbish.case_no}
    assert _matching(session, cases, channel="hotline") == {rubbish.case_no}
    assert _matching(session, cases, **{"from": "2026-03-02"}) == {rubbish.case_no, other_street.case_no}
    assert _matching(session, cases, to="2026-03-01") == {manhole.case_no}
    assert _matching(session, cases, **{"from": "2026-03-01", "to": "2026-03-02"}) == {
        manhole.case_no,
        rubbish.case_no,
    }
    assert _matching(session, cases, q=manhole.case_no) == {manhole.case_no}
    assert _matching(session, cases, q="垃圾") == {rubbish.case_no}
    assert _matching(session, cases, q="胜利北路") == {rubbish.case_no}
    assert _matching(session, cases, q="100%_") == set()  # wildcards are literal


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"category": "BJ 01"}, "bad_category"),
        ({"area": "12345"}, "bad_area"),
        ({"department": "D'1"}, "bad_department"),
        ({"channel": "fax"}, "bad_channel"),
        ({"from": "2026-13-01"}, "bad_date"),
        ({"to": "yesterday"}, "bad_date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "bad_date_range"),
        ({"q": "长" * 101}, "text_too_long"),
        ({"sort": "priority"}, "bad_sort"),
        ({"dir": "up"}, "bad_direction"),
    ],
)
def test_malformed_criteria_are_refused_in_chinese(params: dict[str, str], code: str) -> None:
    with pytest.raises(Invalid) as info:
        Criteria.parse(params, default_sort=DEFAULT)
    assert info.value.code == code
    assert any("\u4e00" <= char <= "\u9fff" for char in info.value.message)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"category": "XX99"}, "unknown_category"),
        ({"area": "999999999"}, "unknown_area"),
        ({"department": "NOPE"}, "unknown_department"),
    ],
)
def test_unknown_codes_are_refused(session: Session, city: City, params: dict[str, str], code: str) -> None:
    with pytest.raises(Invalid) as info:
        listing.filter_conditions(session, Criteria.parse(params, default_sort=DEFAULT))
    assert info.value.code == code


@pytest.mark.parametrize("text", ["", "1", "abc.1", "1.2.3", "-1.2", "99999999999999999999.1"])
def test_malformed_cursors_are_refused(text: str) -> None:
    with pytest.raises(Invalid):
        Cursor.parse(text, Sort.REPORTED)


def test_cursor_round_trip() -> None:
    cursor = Cursor(listing._micros(datetime(2026, 3, 2, tzinfo=UTC)), 42)
    assert Cursor.parse(cursor.encode(), Sort.DEADLINE) == cursor
    with pytest.raises(Invalid):
        Cursor.parse("12.1", Sort.STATUS)  # no such status rank


def test_criteria_round_trip_through_params() -> None:
    criteria = Criteria(
        category="BJ0101",
        area="360502001",
        department="M01",
        channel=Channel.HOTLINE,
        reported_from=date(2026, 3, 1),
        reported_to=date(2026, 3, 31),
        text="井盖",
        sort=Sort.STATUS,
        direction=Direction.DESC,
    )
    assert Criteria.parse(criteria.params(), default_sort=DEFAULT) == criteria
    assert Criteria.parse({}, default_sort=DEFAULT).params() == {"sort": "deadline", "dir": "asc"}


def test_capped_counts_in_one_query(session: Session, make_case: MakeCase) -> None:
    cases = [make_case(CaseStatus.PENDING) for _ in range(4)]
    counts = listing.capped_counts(
        session,
        {"all": _ids(cases), "two": _ids(cases[:2]), "none": sa.false()},
        cap=3,
    )
    assert counts == {"all": 4, "two": 2, "none": 0}  # 4 = "more than 3"


def test_due_soon_queue(session: Session, city: City, make_case: MakeCase) -> None:
    now = utcnow()
    until = queues.due_soon_until(session, city.settings, now)
    assert until >= now + timedelta(hours=queues.DUE_SOON_WORK_HOURS)
    soon, later, passed, suspended, other_stage = (
        make_case(status)
        for status in (
            CaseStatus.REGISTERED,
            CaseStatus.REGISTERED,
            CaseStatus.REGISTERED,
            CaseStatus.SUSPENDED,
            CaseStatus.REGISTERED,
        )
    )
    soon.dispatch_due_at = now + timedelta(minutes=20)
    later.dispatch_due_at = until + timedelta(minutes=1)
    passed.dispatch_due_at = now - timedelta(minutes=1)
    suspended.handle_due_at = now + timedelta(minutes=20)  # clock stopped: never due soon
    other_stage.dispatch_due_at = until + timedelta(days=3)
    other_stage.handle_due_at = now + timedelta(minutes=20)  # not the stage it is in
    session.add_all([soon, later, passed, suspended, other_stage])
    session.flush()
    cases = [soon, later, passed, suspended, other_stage]

    def due_soon(role: StaffRole) -> set[str]:
        condition = queues.scoped_condition(session, city.staff[role], Queue.DUE_SOON, window=(now, until))
        found = listing.page(
            session, [condition, _ids(cases)], sort=Sort.DEADLINE, direction=Direction.ASC, limit=50
        )
        return {row.case_no for row in found.rows}

    assert due_soon(StaffRole.DISPATCHER) == {soon.case_no}
    assert due_soon(StaffRole.LEADER) == {soon.case_no}  # may urge any open case
    assert due_soon(StaffRole.HANDLER) == set()  # not theirs to act on
    assert queues.current_deadline(soon) == soon.dispatch_due_at
    assert queues.current_deadline(suspended) is None


def test_queues_per_role() -> None:
    from core.models import StaffUser

    def of(role: StaffRole) -> list[Queue]:
        return queues.queues_of(StaffUser(username="x", display_name="x", role=role, password_hash="x"))

    assert of(StaffRole.OPERATOR) == [
        Queue.TO_REGISTER,
        Queue.TO_CHECK,
        Queue.DUE_SOON,
        Queue.OVERDUE,
        Queue.ALL,
    ]
    assert of(StaffRole.DISPATCHER) == [
        Queue.TO_DISPATCH,
        Queue.TO_APPROVE,
        Queue.TO_CHECK,
        Queue.DUE_SOON,
        Queue.OVERDUE,
        Queue.ALL,
    ]
    assert of(StaffRole.SHIFT_LEAD) == [
        Queue.TO_REGISTER,
        Queue.TO_DISPATCH,
        Queue.TO_APPROVE,
        Queue.TO_CHECK,
        Queue.DUE_SOON,
        Queue.OVERDUE,
        Queue.ALL,
    ]
    assert of(StaffRole.HANDLER) == [Queue.TO_HANDLE, Queue.DUE_SOON, Queue.OVERDUE, Queue.ALL]
    assert of(StaffRole.LEADER) == [Queue.DUE_SOON, Queue.OVERDUE, Queue.ALL]
    assert of(StaffRole.ADMIN) == [Queue.ALL]
    assert of(StaffRole.SUPERVISOR) == [
        Queue.TO_VERIFY,
        Queue.TO_CHECK,
        Queue.DUE_SOON,
        Queue.OVERDUE,
        Queue.ALL,
    ]
