"""Hand-checked evaluations: boundaries at local midnight, scores, ranking ties, empty periods,
month-on-month and year-on-year changes, the viewer's area."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from core.evaluation import service
from core.evaluation.dimensions import Dimension
from core.evaluation.indicators import INDICATORS, display
from core.evaluation.periods import Period
from core.evaluation.scores import area_score, rank
from core.kit.sqltypes import UTCDateTime
from core.models import CaseStatus, Channel, StaffRole
from core.settings import EvaluationSettings
from tests.core.evaluation.scenario import World, build_world, local
from tests.fixtures.cases import City

MARCH = Period(date(2021, 3, 1), date(2021, 4, 1))


@pytest.fixture
def world(city: City) -> World:
    return build_world(city)


def evaluate(world: World, dimension: Dimension, period: Period = MARCH, role: StaffRole = StaffRole.LEADER):  # type: ignore[no-untyped-def]
    viewer = world.city.staff[role]
    return service.evaluate(
        world.session, world.city.settings, viewer=viewer, dimension=dimension, period=period
    )


def closed_case(world: World, created, *, community=None, channel=Channel.MINIPROGRAM, late: bool = False):  # type: ignore[no-untyped-def]
    """A case reported, registered, dispatched, handled (in time unless ``late``) and closed within a day."""
    department = world.departments[0]
    case = world.case(
        created,
        community=community,
        channel=channel,
        status=CaseStatus.CLOSED,
        registered_at=created + timedelta(hours=1),
        dispatched_at=created + timedelta(hours=2),
        handle_started_at=created + timedelta(hours=2),
        handle_due_at=created + timedelta(hours=6),
        handled_at=created + timedelta(hours=8 if late else 5),
        closed_at=created + timedelta(hours=9),
        department_id=department.id,
        overdue=late,
    )
    world.event(
        case, "register", created + timedelta(hours=1), actor=world.operators[0], to=CaseStatus.REGISTERED
    )
    world.event(
        case,
        "dispatch",
        created + timedelta(hours=2),
        actor=world.dispatchers[0],
        department=department,
        to=CaseStatus.DISPATCHED,
    )
    world.event(
        case, "handle", case.handled_at, actor=world.handler, department=department, to=CaseStatus.HANDLED
    )  # type: ignore[arg-type]
    world.event(
        case,
        "check",
        created + timedelta(hours=9),
        actor=world.supervisors[0],
        department=department,
        to=CaseStatus.CLOSED,
    )
    return case


def test_reports_are_counted_by_local_day_at_both_ends(world: World) -> None:
    street = world.communities[0].code[:9]
    world.case(local(2021, 3, 1, 0, 0, 0))  # the first instant of March in Shanghai: in
    world.case(local(2021, 2, 28, 23, 59, 59))  # still February locally (15:59:59 UTC): out
    world.case(local(2021, 3, 31, 23, 59, 59))  # in
    world.case(local(2021, 4, 1, 0, 0, 0))  # out
    result = evaluate(world, Dimension.STREET)
    row = next(row for row in result.rows if row.key == street)
    assert row.values["reports"] == 2
    assert result.summary["reports"] == 2
    feb = evaluate(world, Dimension.STREET, Period(date(2021, 2, 1), date(2021, 3, 1)))
    assert next(row for row in feb.rows if row.key == street).values["reports"] == 1
    # The same with a direct SQL count over the UTC bounds.
    count = world.session.execute(
        sa.text('SELECT COUNT(*) FROM "case" WHERE created_at >= :s AND created_at < :e').bindparams(
            sa.bindparam("s", type_=UTCDateTime()), sa.bindparam("e", type_=UTCDateTime())
        ),
        {"s": MARCH.start_at, "e": MARCH.end_at},
    ).scalar_one()
    assert count == 2


def test_heat_map_uses_local_weekday_and_hour(world: World) -> None:
    world.case(local(2021, 3, 1, 0, 30))  # Monday 00:30 local (Sunday 16:30 UTC)
    world.case(local(2021, 3, 7, 23, 30))  # Sunday 23:30 local
    world.case(local(2021, 3, 3, 9, 0))  # Wednesday 09:00
    viewer = world.city.staff[StaffRole.LEADER]
    spots = service.hot_spots(world.session, world.city.settings, viewer=viewer, period=MARCH)
    assert spots.heat[0][0] == 1
    assert spots.heat[6][23] == 1
    assert spots.heat[2][9] == 1
    assert sum(map(sum, spots.heat)) == 3
    assert spots.heat_max == 1


def test_area_indicators_and_score_by_hand(world: World) -> None:
    one, two = world.communities
    # Street one: 2 reports (1 by a supervisor), both closed, one of them late.
    closed_case(world, local(2021, 3, 2, 9), community=one, channel=Channel.SUPERVISOR)
    closed_case(world, local(2021, 3, 3, 9), community=one, late=True)
    # Street two: 1 report, registered, deadline in March, still open.
    open_case = world.case(
        local(2021, 3, 4, 9),
        community=two,
        status=CaseStatus.DISPATCHED,
        registered_at=local(2021, 3, 4, 10),
        dispatched_at=local(2021, 3, 4, 11),
        handle_started_at=local(2021, 3, 4, 11),
        handle_due_at=local(2021, 3, 5, 11),
        department_id=world.departments[1].id,
    )
    world.event(
        open_case, "register", local(2021, 3, 4, 10), actor=world.operators[1], to=CaseStatus.REGISTERED
    )
    result = evaluate(world, Dimension.STREET)
    rows = {row.key: row for row in result.rows}
    a, b = rows[one.code[:9]].values, rows[two.code[:9]].values
    assert (a["reports"], a["supervisor_reports"], a["registered"], a["due_close"], a["closed"]) == (
        2,
        1,
        2,
        2,
        2,
    )
    assert a["ontime_closed"] == 1
    assert (a["supervisor_report_rate"], a["close_rate"], a["ontime_close_rate"]) == (0.5, 1.0, 0.5)
    # 10 × 0.5 + 20 × (2 ÷ 2) + 30 × 1 + 40 × 0.5 = 75
    assert a["score"] == pytest.approx(75)
    assert (b["reports"], b["registered"], b["due_close"], b["closed"]) == (1, 1, 1, 0)
    # 10 × 0 + 20 × (1 ÷ 2) + 30 × 0 + 40 × 0 = 10
    assert b["score"] == pytest.approx(10)
    assert [row.rank for row in result.rows[:2]] == [1, 2]
    assert result.rows[0].key == one.code[:9]


def test_department_indicators_by_hand(world: World) -> None:
    case = closed_case(world, local(2021, 3, 2, 9))
    result = evaluate(world, Dimension.DEPARTMENT)
    row = next(row for row in result.rows if row.key == str(world.departments[0].id)).values
    assert (row["dispatched"], row["returned"], row["handled"], row["due_handle"], row["ontime_handled"]) == (
        1,
        0,
        1,
        1,
        1,
    )
    assert row["avg_handle_hours"] == pytest.approx(3.0)  # dispatched at +2 h, handled at +5 h
    assert (row["handle_rate"], row["rework_rate"], row["return_rate"]) == (1.0, 0.0, 0.0)
    assert row["score"] == pytest.approx(100)
    assert case.id is not None


def test_an_empty_period_has_no_rates_and_no_scores(world: World) -> None:
    result = evaluate(world, Dimension.STREET, Period(date(2011, 3, 1), date(2011, 4, 1)))
    assert result.rows  # the streets are listed anyway
    for row in result.rows:
        assert row.values["reports"] == 0
        assert row.values["close_rate"] is None
        assert row.values["score"] is None
        assert row.rank is None
        assert result.mom(row) is None
    assert display(result.summary["close_rate"], INDICATORS["close_rate"].kind) == "—"
    assert display(result.summary["avg_handle_hours"], INDICATORS["avg_handle_hours"].kind) == "—"
    departments = evaluate(world, Dimension.DEPARTMENT, Period(date(2011, 3, 1), date(2011, 4, 1)))
    assert all(row.values["score"] is None for row in departments.rows)


def test_ranking_ties_share_a_rank() -> None:
    assert rank([90, 80, 90, None, 70]) == [1, 3, 1, None, 4]
    assert rank([80.0000001, 80]) == [1, 1]
    assert rank([]) == []


def test_two_equal_streets_tie(world: World) -> None:
    one, two = world.communities
    closed_case(world, local(2021, 3, 2, 9), community=one)
    closed_case(world, local(2021, 3, 2, 9), community=two)
    result = evaluate(world, Dimension.STREET)
    assert [row.rank for row in result.rows] == [1, 1]


def test_month_on_month_and_year_on_year_changes(world: World) -> None:
    one = world.communities[0]
    closed_case(world, local(2021, 3, 2, 9), community=one)  # March 2021, in time
    closed_case(world, local(2021, 2, 2, 9), community=one, late=True)  # February 2021
    closed_case(world, local(2020, 3, 2, 9), community=one, channel=Channel.SUPERVISOR)  # March 2020
    result = evaluate(world, Dimension.STREET)
    row = next(row for row in result.rows if row.key == one.code[:9])
    # March 2021: 0 × 10 + 1 × 20 + 1 × 30 + 1 × 40 = 90; February: 0 + 20 + 30 + 0 = 50; March 2020: 100.
    assert row.values["score"] == pytest.approx(90)
    assert row.previous == pytest.approx(50)
    assert row.year_ago == pytest.approx(100)
    assert result.mom(row) == pytest.approx(40)
    assert result.yoy(row) == pytest.approx(-10)
    assert result.previous_period == Period(date(2021, 2, 1), date(2021, 3, 1))
    assert result.year_ago_period == Period(date(2020, 3, 1), date(2020, 4, 1))


def test_positions_count_the_acting_staff_members_events(world: World) -> None:
    closed_case(world, local(2021, 3, 2, 9))
    closed_case(world, local(2021, 3, 3, 9))
    operators = {row.key: row for row in evaluate(world, Dimension.OPERATOR).rows}
    first, second = (str(user.id) for user in world.operators)
    assert operators[first].values["registered"] == 2
    assert operators[first].rank == 1
    assert operators[second].values["actions"] == 0
    assert operators[second].rank == 2
    dispatchers = {row.key: row for row in evaluate(world, Dimension.DISPATCHER).rows}
    assert dispatchers[str(world.dispatchers[0].id)].values["accurate_dispatch_rate"] == 1.0
    supervisors = {row.key: row for row in evaluate(world, Dimension.SUPERVISOR).rows}
    assert supervisors[str(world.supervisors[0].id)].values["checked"] == 2


def test_a_viewer_sees_only_their_area(world: World) -> None:
    one, two = world.communities
    closed_case(world, local(2021, 3, 2, 9), community=one)
    closed_case(world, local(2021, 3, 2, 9), community=two)
    dispatcher = world.city.staff[StaffRole.DISPATCHER]
    dispatcher.area_id = two.id
    world.session.add(dispatcher)
    world.session.flush()
    result = evaluate(world, Dimension.STREET, role=StaffRole.DISPATCHER)
    assert [row.key for row in result.rows] == [two.code[:9]]
    assert result.summary["reports"] == 1
    districts = evaluate(world, Dimension.DISTRICT, role=StaffRole.DISPATCHER)
    assert [row.values["reports"] for row in districts.rows] == [1]


def test_area_score_leaves_out_undefined_parts() -> None:
    weights = EvaluationSettings()
    # No reports: 监督举报率 undefined, the other parts rescaled to their 90 points.
    values = {"reports": 0, "registered": 1, "due_close": 1, "close_rate": 1.0, "ontime_close_rate": 0.0}
    assert area_score(values, max_registered=1, weights=weights) == pytest.approx(100 * 50 / 90)
    assert (
        area_score({"reports": 0, "registered": 0, "due_close": 0}, max_registered=0, weights=weights) is None
    )


def test_weights_must_leave_a_score() -> None:
    with pytest.raises(ValueError, match="weight"):
        EvaluationSettings(
            area_weight_supervisor_report_rate=0,
            area_weight_registered=0,
            area_weight_close_rate=0,
            area_weight_ontime_close_rate=0,
        )
