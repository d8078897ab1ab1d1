"""综合评价: the indicators of a dimension over a period, scored, ranked and compared; hot spots.

Everything is counted by SQL aggregates in ``repository.py`` (three grouped queries per period: reports,
history, deadlines), within what the viewing staff member may see (``core.cases.access``). The
definitions are in ``core.evaluation.indicators``, the scores in ``core.evaluation.scores``.
"""

from __future__ import annotations

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from core.cases import repository as cases_repository
from core.cases.access import visible_condition
from core.evaluation import repository
from core.evaluation.dimensions import SPECS, Dimension, DimensionSpec, Group, raw_needed
from core.evaluation.errors import UnknownDimension
from core.evaluation.indicators import RAW_COUNTS, Number, derive
from core.evaluation.periods import Period
from core.evaluation.repository import AREA_LEVEL, ROLE_OF, Counts, Target
from core.evaluation.schemas import Evaluation, HotSpots, Ranked, Row
from core.evaluation.scores import area_score, department_score, rank
from core.models import StaffUser
from core.settings import Settings

SUMMARY_NEEDED = frozenset(RAW_COUNTS)


def parse_dimension(value: str) -> Dimension:
    try:
        return Dimension(value)
    except ValueError:
        raise UnknownDimension(value) from None


def _merge(*parts: Counts) -> Counts:
    merged: Counts = {}
    for part in parts:
        for key, counts in part.items():
            merged.setdefault(key, {}).update(counts)
    return merged


def _raw(
    session: Session, target: Target, period: Period, scope: ColumnElement[bool], needed: frozenset[str]
) -> Counts:
    return _merge(
        repository.report_counts(session, target=target, period=period, scope=scope, needed=needed),
        repository.event_counts(session, target=target, period=period, scope=scope, needed=needed),
        repository.due_counts(session, target=target, period=period, scope=scope, needed=needed),
    )


def _listed_rows(session: Session, dimension: Dimension, prefix: str | None) -> dict[str, str]:
    """The rows shown even without data: the areas (within the viewer's area), and for a city-wide
    viewer the active departments and staff of the role."""
    if dimension in AREA_LEVEL:
        names = repository.area_names(session, AREA_LEVEL[dimension])
        return {
            code: name
            for code, name in names.items()
            if prefix is None or code.startswith(prefix) or prefix.startswith(code)
        }
    if dimension is Dimension.GRID:
        communities = repository.grid_communities(session)
        return {
            code: name
            for code, name in repository.grid_names(session).items()
            if prefix is None or communities.get(code, "").startswith(prefix)
        }
    if prefix is not None:
        return {}
    if dimension is Dimension.DEPARTMENT:
        return repository.department_names(session, active_only=True)
    return repository.staff_names(session, ROLE_OF[dimension], active_only=True)


def _values(
    spec: DimensionSpec, raw: Counts, keys: list[str], settings: Settings
) -> dict[str, dict[str, Number | None]]:
    """Indicators and scores of every row for one period's raw counts."""
    values = {key: derive(raw.get(key, {})) for key in keys}
    if spec.group is Group.AREA:
        max_registered = max((row["registered"] or 0 for row in values.values()), default=0)
        for row in values.values():
            row["score"] = area_score(row, max_registered=max_registered, weights=settings.evaluation)
    elif spec.group is Group.DEPARTMENT:
        for row in values.values():
            row["score"] = department_score(row, weights=settings.evaluation)
    return values


def scope_of(session: Session, viewer: StaffUser) -> tuple[ColumnElement[bool], str | None]:
    return visible_condition(session, viewer), cases_repository.area_code(session, viewer.area_id)


def summary(session: Session, *, viewer: StaffUser, period: Period) -> dict[str, Number | None]:
    """The whole visible city's indicators for the period (the page's tiles)."""
    scope, _ = scope_of(session, viewer)
    repository.without_jit(session)
    overall = _raw(session, Target(None, None), period, scope, SUMMARY_NEEDED).get(repository.OVERALL, {})
    return derive(overall)


def evaluate(
    session: Session,
    settings: Settings,
    *,
    viewer: StaffUser,
    dimension: Dimension,
    period: Period,
    with_summary: bool = True,
) -> Evaluation:
    """The ranked table of one dimension (and the summary unless the caller loads it separately)."""
    spec = SPECS[dimension]
    scope, prefix = scope_of(session, viewer)
    target = Target(dimension, spec.group)
    needed = raw_needed(spec)
    repository.without_jit(session)
    periods = {"now": period, "mom": period.previous(), "yoy": period.year_ago()}
    raw = {name: _raw(session, target, when, scope, needed) for name, when in periods.items()}

    listed = _listed_rows(session, dimension, prefix)
    with_data = set().union(*(counts.keys() for counts in raw.values()))
    names = dict(listed)
    missing = with_data - names.keys()
    if missing:
        known = repository.names_of(session, dimension, missing)
        names.update({key: known.get(key, key) for key in missing})
    keys = sorted(names)
    by_period = {name: _values(spec, {k: raw[name].get(k, {}) for k in keys}, keys, settings) for name in raw}

    rows = [
        Row(
            key=key,
            name=names[key],
            values=by_period["now"][key],
            previous=by_period["mom"][key].get(spec.headline),
            year_ago=by_period["yoy"][key].get(spec.headline),
        )
        for key in keys
    ]
    for row, position in zip(rows, rank([row.values.get(spec.headline) for row in rows]), strict=True):
        row.rank = position
    rows.sort(key=lambda row: (row.rank is None, row.rank or 0, row.name, row.key))

    return Evaluation(
        spec=spec,
        period=period,
        previous_period=periods["mom"],
        year_ago_period=periods["yoy"],
        rows=rows,
        summary=summary(session, viewer=viewer, period=period) if with_summary else {},
    )


def hot_spots(session: Session, settings: Settings, *, viewer: StaffUser, period: Period) -> HotSpots:
    """高发问题 (categories), 高发区域 (unit grids, streets), 高发时段 (weekday × hour) of the reports."""
    scope, _ = scope_of(session, viewer)
    repository.without_jit(session)
    top = settings.evaluation.hotspot_top
    categories = repository.top_categories(session, period=period, scope=scope, limit=top)
    grids = repository.top_codes(session, column="unit_grid_code", period=period, scope=scope, limit=top)
    streets = repository.top_codes(session, column="street_code", period=period, scope=scope, limit=top)
    street_names = repository.area_names(session, AREA_LEVEL[Dimension.STREET])
    heat = [[0] * 24 for _ in range(7)]
    for weekday, hour, count in repository.heat_map(session, period=period, scope=scope):
        heat[weekday - 1][hour] = count
    return HotSpots(
        period=period,
        categories=[Ranked(code, name, count) for code, name, count in categories],
        grids=[Ranked(code, code, count) for code, count in grids],
        streets=[Ranked(code, street_names.get(code, code), count) for code, count in streets],
        heat=heat,
    )
