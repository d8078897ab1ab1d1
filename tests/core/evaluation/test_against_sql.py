"""Every number of the evaluation equals a count written here independently in plain SQL, over a
seeded random month of cases (with the months around it and the same month a year earlier)."""

from __future__ import annotations

from datetime import date
from statistics import mean

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core.cases.workflow import Action
from core.evaluation import service
from core.evaluation.dimensions import SPECS, Dimension
from core.evaluation.periods import Period
from core.kit.clock import SHANGHAI
from core.kit.sqltypes import UTCDateTime
from core.models import StaffRole
from tests.core.evaluation.scenario import World, build_world, local, populate
from tests.fixtures.cases import City

MARCH = Period(date(2021, 3, 1), date(2021, 4, 1))
IN_P = "{t}.created_at >= :s AND {t}.created_at < :e"
JOIN = 'FROM case_event e JOIN "case" c ON c.id = e.case_id'


def count_by(session: Session, sql: str, period: Period = MARCH, **params: object) -> dict[str, float]:
    stmt = sa.text(sql).bindparams(
        sa.bindparam("s", type_=UTCDateTime()), sa.bindparam("e", type_=UTCDateTime())
    )
    rows = session.execute(stmt, {"s": period.start_at, "e": period.end_at, **params})
    return {str(key): float(value) for key, value in rows if key is not None}


def rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@pytest.fixture
def world(city: City) -> World:
    world = build_world(city)
    populate(world, seed=20210301, count=160, start=local(2021, 2, 10), days=70)
    populate(world, seed=20200301, count=50, start=local(2020, 3, 1), days=31)
    return world


def area_expected(session: Session, key: str) -> dict[str, dict[str, float | None]]:
    """Area indicators grouped by the case column ``key``, from plain SQL."""
    q = {
        "reports": f'SELECT {key}, COUNT(*) FROM "case" c WHERE {IN_P.format(t="c")} GROUP BY {key}',
        "supervisor_reports": f'SELECT {key}, COUNT(*) FROM "case" c WHERE {IN_P.format(t="c")} '
        f"AND channel = 'supervisor' GROUP BY {key}",
        "registered": f"SELECT c.{key}, COUNT(DISTINCT e.case_id) {JOIN} WHERE e.action = 'register' "
        f"AND {IN_P.format(t='e')} GROUP BY c.{key}",
        "closed": f"SELECT c.{key}, COUNT(DISTINCT e.case_id) {JOIN} WHERE e.action = 'check' "
        f"AND e.to_status = 'closed' AND {IN_P.format(t='e')} GROUP BY c.{key}",
        "ontime_closed": f"SELECT c.{key}, COUNT(DISTINCT e.case_id) {JOIN} WHERE e.action = 'check' "
        f"AND e.to_status = 'closed' AND {IN_P.format(t='e')} AND NOT c.overdue "
        f"AND c.handled_at <= c.handle_due_at GROUP BY c.{key}",
        "due_not_closed": f'SELECT {key}, COUNT(*) FROM "case" c WHERE c.handle_due_at >= :s '
        "AND c.handle_due_at < :e AND c.registered_at IS NOT NULL AND c.status NOT IN ('voided', 'merged') "
        "AND (c.closed_at IS NULL OR c.closed_at >= :s) AND NOT EXISTS (SELECT 1 FROM case_event k "
        "WHERE k.case_id = c.id AND k.action = 'check' AND k.to_status = 'closed' "
        f"AND {IN_P.format(t='k')}) GROUP BY {key}",
        "overdue_cases": f"SELECT c.{key}, COUNT(DISTINCT e.case_id) {JOIN} WHERE e.action = 'overdue' "
        f"AND {IN_P.format(t='e')} GROUP BY c.{key}",
    }
    raw = {name: count_by(session, sql) for name, sql in q.items()}
    keys = set().union(*raw.values())
    out: dict[str, dict[str, float | None]] = {}
    for k in keys:
        n = {name: raw[name].get(k, 0.0) for name in raw}
        due = n["closed"] + n["due_not_closed"]
        out[k] = {
            **{name: n[name] for name in ("reports", "supervisor_reports", "registered", "closed")},
            "ontime_closed": n["ontime_closed"],
            "overdue_cases": n["overdue_cases"],
            "due_close": due,
            "supervisor_report_rate": rate(n["supervisor_reports"], n["reports"]),
            "close_rate": rate(n["closed"], due),
            "ontime_close_rate": rate(n["ontime_closed"], due),
        }
    return out


RETURNED_DISPATCHES = (
    "SELECT {key}, COUNT(*) FROM (SELECT e.*, LEAD(e.action) OVER (PARTITION BY e.case_id ORDER BY e.id) "
    "AS next_action FROM case_event e WHERE e.action IN ('dispatch', 'return')) x "
    "WHERE x.action = 'dispatch' AND x.next_action = 'return' AND {in_p} {extra} GROUP BY {key}"
)


def department_expected(session: Session) -> dict[str, dict[str, float | None]]:
    q = {
        "dispatched": f"SELECT department_id, COUNT(*) FROM case_event e WHERE action = 'dispatch' "
        f"AND {IN_P.format(t='e')} GROUP BY department_id",
        "returned": RETURNED_DISPATCHES.format(key="x.department_id", in_p=IN_P.format(t="x"), extra=""),
        "handled": f"SELECT department_id, COUNT(*) FROM case_event e WHERE action = 'handle' "
        f"AND {IN_P.format(t='e')} GROUP BY department_id",
        "ontime_handled": f"SELECT e.department_id, COUNT(*) {JOIN} WHERE e.action = 'handle' "
        f"AND {IN_P.format(t='e')} AND e.created_at <= c.handle_due_at GROUP BY e.department_id",
        "reworked": f"SELECT department_id, COUNT(*) FROM case_event e WHERE action = 'check' "
        f"AND to_status = 'dispatched' AND {IN_P.format(t='e')} GROUP BY department_id",
        "overdue_cases": f"SELECT department_id, COUNT(DISTINCT case_id) FROM case_event e "
        f"WHERE action = 'overdue' AND {IN_P.format(t='e')} GROUP BY department_id",
        "due_not_handled": 'SELECT c.department_id, COUNT(*) FROM "case" c WHERE c.handle_due_at >= :s '
        "AND c.handle_due_at < :e AND c.department_id IS NOT NULL AND c.dispatched_at IS NOT NULL "
        "AND c.status NOT IN ('voided', 'merged') AND (c.handled_at IS NULL OR c.handled_at >= :s) "
        "AND NOT EXISTS (SELECT 1 FROM case_event k WHERE k.case_id = c.id AND k.action = 'handle' "
        f"AND {IN_P.format(t='k')}) GROUP BY c.department_id",
    }
    raw = {name: count_by(session, sql) for name, sql in q.items()}
    durations: dict[str, list[float]] = {}
    stmt = (
        sa.text(
            f"SELECT e.department_id, e.created_at, c.handle_started_at {JOIN} WHERE e.action = 'handle' "
            f"AND {IN_P.format(t='e')} AND c.handle_started_at <= e.created_at"
        )
        .bindparams(sa.bindparam("s", type_=UTCDateTime()), sa.bindparam("e", type_=UTCDateTime()))
        .columns(
            sa.column("department_id"), sa.column("at", UTCDateTime()), sa.column("start", UTCDateTime())
        )
    )
    for department, at, start in session.execute(stmt, {"s": MARCH.start_at, "e": MARCH.end_at}):
        durations.setdefault(str(department), []).append((at - start).total_seconds() / 3600)
    out: dict[str, dict[str, float | None]] = {}
    for k in set().union(*raw.values(), durations):
        n = {name: raw[name].get(k, 0.0) for name in raw}
        due = n["handled"] + n["due_not_handled"]
        out[k] = {
            **{name: n[name] for name in ("dispatched", "returned", "handled", "ontime_handled")},
            "reworked": n["reworked"],
            "overdue_cases": n["overdue_cases"],
            "due_handle": due,
            "return_rate": rate(n["returned"], n["dispatched"]),
            "handle_rate": rate(n["handled"], due),
            "ontime_handle_rate": rate(n["ontime_handled"], due),
            "rework_rate": rate(n["reworked"], n["handled"]),
            "avg_handle_hours": mean(durations[k]) if durations.get(k) else None,
        }
    return out


def staff_expected(session: Session, role: StaffRole) -> dict[str, dict[str, float | None]]:
    def by_action(*actions: str) -> dict[str, float]:
        listed = ", ".join(f"'{a}'" for a in actions)
        return count_by(
            session,
            f"SELECT actor_id, COUNT(*) FROM case_event e WHERE actor_role = :role AND action IN ({listed}) "
            f"AND {IN_P.format(t='e')} GROUP BY actor_id",
            role=role.value,
        )

    raw = {
        "actions": by_action(*(a.value for a in Action)),
        "accepted": by_action("accept"),
        "sent_verify": by_action("send_verify"),
        "registered": by_action("register"),
        "voided": by_action("void"),
        "merged": by_action("merge"),
        "urges": by_action("urge"),
        "sent_check": by_action("send_check"),
        "decisions": by_action(
            "approve_extension", "reject_extension", "approve_suspension", "reject_suspension"
        ),
        "dispatched": by_action("dispatch"),
        "verified": by_action("verify"),
        "checked": by_action("check"),
        "ontime_registered": count_by(
            session,
            f"SELECT e.actor_id, COUNT(*) {JOIN} WHERE e.actor_role = :role AND e.action = 'register' "
            f"AND {IN_P.format(t='e')} AND e.created_at <= c.register_due_at GROUP BY e.actor_id",
            role=role.value,
        ),
        "returned": count_by(
            session,
            RETURNED_DISPATCHES.format(
                key="x.actor_id", in_p=IN_P.format(t="x"), extra="AND x.actor_role = :role"
            ),
            role=role.value,
        ),
        "reports": count_by(
            session,
            "SELECT reporter_staff_id, COUNT(*) FROM \"case\" c WHERE channel = 'supervisor' "
            f"AND {IN_P.format(t='c')} GROUP BY reporter_staff_id",
        ),
        "valid_reports": count_by(
            session,
            "SELECT reporter_staff_id, COUNT(*) FROM \"case\" c WHERE channel = 'supervisor' "
            f"AND registered_at IS NOT NULL AND {IN_P.format(t='c')} GROUP BY reporter_staff_id",
        ),
    }
    out: dict[str, dict[str, float | None]] = {}
    for k in set().union(*raw.values()):
        n = {name: raw[name].get(k, 0.0) for name in raw}
        out[k] = {
            **n,
            "ontime_register_rate": rate(n["ontime_registered"], n["registered"]),
            "accurate_dispatch_rate": rate(n["dispatched"] - n["returned"], n["dispatched"]),
            "valid_report_rate": rate(n["valid_reports"], n["reports"]),
        }
    return out


def assert_rows_match(
    world: World, dimension: Dimension, expected: dict[str, dict[str, float | None]]
) -> None:
    viewer = world.city.staff[StaffRole.LEADER]
    result = service.evaluate(
        world.session, world.city.settings, viewer=viewer, dimension=dimension, period=MARCH
    )
    rows = {row.key: row for row in result.rows}
    assert set(expected) <= set(rows), (dimension, set(expected) - set(rows))
    checked = 0
    for key, row in rows.items():
        for column in SPECS[dimension].columns:
            want = expected.get(key, {}).get(column, 0.0 if "rate" not in column else None)
            if column == "avg_handle_hours" and key not in expected:
                want = None
            got = row.values[column]
            if want is None:
                assert got is None, (dimension, key, column, got)
            else:
                assert got == pytest.approx(want), (dimension, key, column, got, want)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    ("dimension", "column"),
    [
        (Dimension.DISTRICT, "district_code"),
        (Dimension.STREET, "street_code"),
        (Dimension.COMMUNITY, "community_code"),
        (Dimension.GRID, "responsibility_grid_code"),
    ],
)
def test_area_indicators_equal_sql_counts(world: World, dimension: Dimension, column: str) -> None:
    expected = area_expected(world.session, column)
    assert sum(row["reports"] or 0 for row in expected.values()) > 40  # the scenario is not empty
    assert_rows_match(world, dimension, expected)


def test_department_indicators_equal_sql_counts(world: World) -> None:
    expected = department_expected(world.session)
    assert sum(row["returned"] or 0 for row in expected.values()) > 0
    assert sum(row["reworked"] or 0 for row in expected.values()) > 0
    assert_rows_match(world, Dimension.DEPARTMENT, expected)


@pytest.mark.parametrize(
    ("dimension", "role"),
    [
        (Dimension.OPERATOR, StaffRole.OPERATOR),
        (Dimension.SHIFT_LEAD, StaffRole.SHIFT_LEAD),
        (Dimension.DISPATCHER, StaffRole.DISPATCHER),
        (Dimension.SUPERVISOR, StaffRole.SUPERVISOR),
    ],
)
def test_position_and_supervisor_indicators_equal_sql_counts(
    world: World, dimension: Dimension, role: StaffRole
) -> None:
    expected = staff_expected(world.session, role)
    if role is not StaffRole.SUPERVISOR:
        expected = {key: row for key, row in expected.items() if row["actions"]}
        expected = {
            k: {c: v for c, v in row.items() if c not in ("reports", "valid_reports")}
            for k, row in expected.items()
        }
    assert expected
    assert_rows_match(world, dimension, expected)


def test_summary_equals_ungrouped_sql_counts(world: World) -> None:
    viewer = world.city.staff[StaffRole.ADMIN]
    result = service.evaluate(
        world.session, world.city.settings, viewer=viewer, dimension=Dimension.STREET, period=MARCH
    )
    area = area_expected(world.session, "district_code")
    department = department_expected(world.session)
    for column in ("reports", "supervisor_reports", "registered", "closed", "ontime_closed", "due_close"):
        assert result.summary[column] == sum(row[column] or 0 for row in area.values()), column
    for column in ("dispatched", "returned", "handled", "ontime_handled", "reworked", "due_handle"):
        assert result.summary[column] == sum(row[column] or 0 for row in department.values()), column


def test_hot_spots_equal_sql_counts(world: World) -> None:
    viewer = world.city.staff[StaffRole.LEADER]
    spots = service.hot_spots(world.session, world.city.settings, viewer=viewer, period=MARCH)
    by_category = count_by(
        world.session,
        'SELECT g.code, COUNT(*) FROM "case" c JOIN category g ON g.id = c.category_id '
        f"WHERE {IN_P.format(t='c')} GROUP BY g.code",
    )
    assert {r.code: r.count for r in spots.categories} == by_category
    by_grid = count_by(
        world.session,
        f'SELECT unit_grid_code, COUNT(*) FROM "case" c WHERE {IN_P.format(t="c")} GROUP BY unit_grid_code',
    )
    assert {r.code: r.count for r in spots.grids} == by_grid
    by_street = count_by(
        world.session,
        f'SELECT street_code, COUNT(*) FROM "case" c WHERE {IN_P.format(t="c")} GROUP BY street_code',
    )
    assert {r.code: r.count for r in spots.streets} == by_street
    assert sum(map(sum, spots.heat)) == sum(by_street.values())
    # Each case in its local weekday and hour (computed here in Python from the stored instants).
    cells = [[0] * 24 for _ in range(7)]
    for case in world.cases:
        local_at = case.created_at.astimezone(SHANGHAI)
        if MARCH.start_at <= case.created_at < MARCH.end_at:
            cells[local_at.isoweekday() - 1][local_at.hour] += 1
    assert spots.heat == cells
