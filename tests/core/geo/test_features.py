"""GeoJSON for the console map: viewport parsing, grid levels by zoom, cases by visibility and stage,
places; the grid cache follows the data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from shapely import box as shapely_box
from sqlmodel import Session

from core.geo import features
from core.geo.features import BBox, CaseFilter, InvalidMapQuery
from core.kit.clock import utcnow
from core.models import CaseStatus, Place, PlaceKind, StaffRole
from tests.fixtures.cases import City, MakeCase
from tests.fixtures.factories import CELL_LAT, CELL_LNG, ORIGIN, Factory, cell

CITY = BBox(ORIGIN[0] - 0.01, ORIGIN[1] - 0.01, ORIGIN[0] + 0.01, ORIGIN[1] + 0.01)


@pytest.fixture(autouse=True)
def fresh_grid_cache() -> Iterator[None]:
    features.invalidate_grid_cache()
    yield
    features.invalidate_grid_cache()


def test_parse_bbox_accepts_leaflet_bbox_strings() -> None:
    assert features.parse_bbox("114.9,27.8,115,27.9") == BBox(114.9, 27.8, 115.0, 27.9)
    # A world-wrapped view is clamped to ±180.
    assert features.parse_bbox("-190,-10,190,10") == BBox(-180.0, -10.0, 180.0, 10.0)


@pytest.mark.parametrize(
    "text", [None, "", "1,2,3", "1,2,3,4,5", "a,2,3,4", "inf,2,3,4", "1,-91,2,3", "2,1,1,2", "1,3,2,2"]
)
def test_parse_bbox_refuses_bad_boxes(text: str | None) -> None:
    with pytest.raises(InvalidMapQuery) as caught:
        features.parse_bbox(text)
    assert caught.value.code == "invalid_map_query"


@pytest.mark.parametrize("text", [None, "", "x", "-1", "23", "1.5"])
def test_parse_zoom_refuses_bad_levels(text: str | None) -> None:
    with pytest.raises(InvalidMapQuery):
        features.parse_zoom(text)


def test_grid_level_follows_the_zoom(session: Session, city: City) -> None:
    unit = features.grid_features(session, CITY, features.UNIT_MIN_ZOOM)
    assert unit["level"] == "unit"
    assert len(unit["features"]) == 4
    ring = unit["features"][0]["geometry"]["coordinates"][0]
    assert all(len(str(value).split(".")[-1]) <= features.COORD_DECIMALS for point in ring for value in point)

    responsibility = features.grid_features(session, CITY, features.UNIT_MIN_ZOOM - 1)
    assert responsibility["level"] == "responsibility"
    assert responsibility["features"][0]["properties"]["name"].endswith("责任网格")

    community = features.grid_features(session, CITY, features.RESPONSIBILITY_MIN_ZOOM - 1)
    assert community["level"] == "community"
    (outline,) = community["features"]
    x0, y0 = ORIGIN
    coords = outline["geometry"]["coordinates"][0]
    xs, ys = [p[0] for p in coords], [p[1] for p in coords]
    assert min(xs) == pytest.approx(x0, abs=1e-6)
    assert max(xs) == pytest.approx(x0 + 2 * CELL_LNG, abs=1e-6)
    assert min(ys) == pytest.approx(y0, abs=1e-6)
    assert max(ys) == pytest.approx(y0 + 2 * CELL_LAT, abs=1e-6)
    assert len(coords) == 5  # four merged cells simplify to one rectangle


def test_grid_features_are_limited_and_say_so(session: Session, city: City) -> None:
    answer = features.grid_features(session, CITY, 18, limit=3)
    assert len(answer["features"]) == 3
    assert answer["truncated"] is True


def test_only_grids_touching_the_box(session: Session, city: City) -> None:
    first = cell(0, 0)
    inside = BBox(
        first.bounds[0] + 1e-6, first.bounds[1] + 1e-6, first.bounds[0] + 2e-6, first.bounds[1] + 2e-6
    )
    answer = features.grid_features(session, inside, 18)
    assert [f["properties"]["code"] for f in answer["features"]] == [f"{city.community.code}001"]


def test_grid_cache_follows_new_grids(session: Session, city: City, factory: Factory) -> None:
    before = features.grid_layers(session).version
    factory.unit_grid(city.community, 5, cell(2, 0))
    features.invalidate_grid_cache()  # as an import does; otherwise the signature is rechecked every 10 s
    layers = features.grid_layers(session)
    assert layers.version != before
    assert len(layers.unit.codes) == 5
    etag = features.grid_etag(session, [("zoom", "17"), ("bbox", "1,2,3,4")])
    assert etag == features.grid_etag(session, [("bbox", "1,2,3,4"), ("zoom", "17")])


def test_bounds_of_an_area(session: Session, city: City, factory: Factory) -> None:
    elsewhere = factory.area_tree(community="002")
    factory.unit_grid(elsewhere, 1, shapely_box(115.0, 28.0, 115.001, 28.001))
    layers = features.grid_layers(session)
    mine = layers.bounds_of(city.community.code)
    assert mine is not None
    assert mine[0] == pytest.approx(ORIGIN[0])
    assert mine[2] == pytest.approx(ORIGIN[0] + 2 * CELL_LNG)
    everything = layers.bounds_of(None)
    assert everything is not None
    assert everything[2] == pytest.approx(115.001)
    assert layers.bounds_of("999999") is None


def test_cases_visible_to_the_staff_member(session: Session, city: City, make_case: MakeCase) -> None:
    pending = make_case(CaseStatus.PENDING)
    handling = make_case(CaseStatus.DISPATCHED)
    make_case(CaseStatus.VOIDED)
    operator = city.staff[StaffRole.OPERATOR]
    shown = features.case_features(session, operator, CITY, CaseFilter())
    assert {f["properties"]["case_no"] for f in shown["features"]} == {pending.case_no, handling.case_no}

    handler = city.staff[StaffRole.HANDLER]
    theirs = features.case_features(session, handler, CITY, CaseFilter())
    assert [f["properties"]["case_no"] for f in theirs["features"]] == [handling.case_no]

    outside = BBox(100.0, 20.0, 100.1, 20.1)
    assert features.case_features(session, operator, outside, CaseFilter())["features"] == []


def test_overdue_by_mark_or_by_passed_deadline(session: Session, city: City, make_case: MakeCase) -> None:
    now = utcnow()
    marked = make_case(CaseStatus.REGISTERED)
    marked.overdue = True
    late = make_case(CaseStatus.PENDING)
    late.register_due_at = now - timedelta(minutes=1)
    on_time = make_case(CaseStatus.DISPATCHED)
    on_time.handle_due_at = now + timedelta(hours=3)
    paused = make_case(CaseStatus.SUSPENDED)
    paused.handle_due_at = now - timedelta(hours=3)  # the clock is stopped: not overdue
    session.flush()
    staff = city.staff[StaffRole.SHIFT_LEAD]

    shown = features.case_features(session, staff, CITY, CaseFilter(), now=now)
    overdue = {f["properties"]["case_no"]: f["properties"]["overdue"] for f in shown["features"]}
    assert overdue == {
        marked.case_no: True,
        late.case_no: True,
        on_time.case_no: False,
        paused.case_no: False,
    }
    due = {f["properties"]["case_no"]: f["properties"]["due"] for f in shown["features"]}
    assert due[marked.case_no] == ""  # no dispatch deadline set
    assert due[on_time.case_no]

    only = features.case_features(session, staff, CITY, CaseFilter(overdue_only=True), now=now)
    assert {f["properties"]["case_no"] for f in only["features"]} == {marked.case_no, late.case_no}


def test_case_features_are_limited(session: Session, city: City, make_case: MakeCase) -> None:
    for _ in range(3):
        make_case(CaseStatus.PENDING)
    answer = features.case_features(session, city.staff[StaffRole.OPERATOR], CITY, CaseFilter(), limit=2)
    assert len(answer["features"]) == 2
    assert answer["truncated"] is True


def test_parse_case_filter() -> None:
    default = features.parse_case_filter([], "", "")
    assert default.statuses == features.MAP_STAGES
    assert not default.overdue_only
    chosen = features.parse_case_filter(["pending", "dispatched"], "BJ0101", "1")
    assert chosen == CaseFilter((CaseStatus.PENDING, CaseStatus.DISPATCHED), "BJ0101", True)
    for statuses, category in ((["closed"], ""), (["x"], ""), ([], "BJ 01"), ([], "B" * 17)):
        with pytest.raises(InvalidMapQuery):
            features.parse_case_filter(statuses, category, "")


def test_category_options_list_majors_then_their_minors(session: Session, city: City) -> None:
    options = features.category_options(session)
    codes = [code for code, _, _ in options]
    assert codes.index("BJ01") < codes.index("BJ0101")
    assert ("BJ0101", "上水井盖", False) in options
    assert ("SJ01", "测试大类", True) in options


def test_places_in_the_box(session: Session) -> None:
    lng, lat = ORIGIN
    session.add_all(
        [
            Place(code="F-T1", kind=PlaceKind.TOILET, name="公厕甲", lng=lng, lat=lat, accessible=True),
            Place(code="F-P1", kind=PlaceKind.PARKING, name="停车场乙", lng=lng, lat=lat, available_spaces=7),
            Place(code="F-P2", kind=PlaceKind.PARKING, name="远处停车场", lng=lng + 1, lat=lat),
        ]
    )
    session.flush()
    answer = features.place_features(session, CITY, tuple(PlaceKind))
    props = {f["properties"]["code"]: f["properties"] for f in answer["features"]}
    assert set(props) == {"F-T1", "F-P1"}
    assert props["F-P1"]["available_spaces"] == 7
    assert "capacity" not in props["F-T1"]
    assert features.parse_kinds(["parking"]) == (PlaceKind.PARKING,)
    with pytest.raises(InvalidMapQuery):
        features.parse_kinds(["bench"])


def test_outlines_of_overlapping_grids_fall_back_to_a_full_union(
    session: Session, city: City, factory: Factory
) -> None:
    # A fifth grid overlapping half of the first cell and sticking out to the west: not a clean coverage.
    x0, y0 = ORIGIN
    factory.unit_grid(city.community, 5, shapely_box(x0 - CELL_LNG / 2, y0, x0 + CELL_LNG / 2, y0 + CELL_LAT))
    outline = features.grid_layers(session).community.geometries[0]
    assert outline.is_valid
    assert outline.geom_type == "Polygon"
    expected = shapely_box(x0, y0, x0 + 2 * CELL_LNG, y0 + 2 * CELL_LAT).union(
        shapely_box(x0 - CELL_LNG / 2, y0, x0, y0 + CELL_LAT)
    )
    assert outline.area == pytest.approx(expected.area, rel=1e-9)
