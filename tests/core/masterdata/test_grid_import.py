"""Unit grids from GeoJSON: valid polygons, codes of their community, no overlaps; a bad feature refuses
the whole file, wherever it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shapely import Polygon, box
from sqlmodel import Session, select

from core.masterdata.errors import ImportFailed, RowError
from core.masterdata.service import import_file, import_folders
from core.models import UnitGrid
from tests.core.masterdata.files import (
    COMMUNITY,
    GOOD_FEATURES,
    GOOD_FILES,
    OTHER_COMMUNITY,
    RESPONSIBILITY,
    Writer,
    count,
    counts,
    feature,
    feature_collection,
)
from tests.fixtures.factories import CELL_LAT, CELL_LNG, ORIGIN, cell

FILE = "unit_grids.geojson"
BOW_TIE = Polygon([(114.90, 27.80), (114.901, 27.801), (114.901, 27.80), (114.90, 27.801)])
FAR_CELL = cell(10, 10)


@pytest.fixture
def communities(session: Session, write: Writer) -> None:
    """Areas and responsibility grids, without any unit grid."""
    paths = [
        write(name, GOOD_FILES[name], folder="base") for name in ("areas.csv", "responsibility_grids.csv")
    ]
    import_folders(session, [paths[0].parent])


def refuse(session: Session, path: Path) -> list[RowError]:
    before = counts(session)
    with pytest.raises(ImportFailed) as caught:
        import_file(session, "unit-grids", path)
    assert counts(session) == before
    return caught.value.errors


def test_good_grids_import_with_centroid_area_and_links(
    session: Session, communities: None, write: Writer
) -> None:
    result = import_file(session, "unit-grids", write(FILE, GOOD_FILES[FILE]))
    assert (result.stats.rows, result.stats.created, result.stats.updated) == (3, 3, 0)
    grid = session.exec(select(UnitGrid).where(UnitGrid.code == f"{COMMUNITY}001")).one()
    assert grid.responsibility_grid_id is not None
    assert grid.area_m2 == pytest.approx(10_000, rel=0.02)
    assert grid.centroid_lng == pytest.approx(ORIGIN[0] + CELL_LNG / 2)
    assert grid.centroid_lat == pytest.approx(ORIGIN[1] + CELL_LAT / 2)
    assert json.loads(grid.geometry)["type"] == "Polygon"


def test_reimporting_grids_changes_nothing_and_a_moved_grid_updates(
    session: Session, communities: None, write: Writer
) -> None:
    import_file(session, "unit-grids", write(FILE, GOOD_FILES[FILE]))
    session.expire_all()
    again = import_file(session, "unit-grids", write(FILE, GOOD_FILES[FILE]))
    assert (again.stats.created, again.stats.updated) == (0, 0)
    moved = [*GOOD_FEATURES[:2], feature(f"{OTHER_COMMUNITY}001", FAR_CELL, community=OTHER_COMMUNITY)]
    result = import_file(session, "unit-grids", write(FILE, feature_collection(moved)))
    assert (result.stats.created, result.stats.updated) == (0, 1)
    assert count(session, UnitGrid) == 3


def test_a_one_part_multipolygon_is_stored_as_a_polygon(
    session: Session, communities: None, write: Writer
) -> None:
    parts = {"type": "MultiPolygon", "coordinates": [[list(cell(5, 5).exterior.coords)]]}
    result = import_file(
        session, "unit-grids", write(FILE, feature_collection([feature(f"{COMMUNITY}005", parts)]))
    )
    assert result.stats.created == 1
    stored = session.exec(select(UnitGrid)).one()
    assert json.loads(stored.geometry)["type"] == "Polygon"


def test_a_multipolygon_of_two_parts_is_refused(session: Session, communities: None, write: Writer) -> None:
    parts = {
        "type": "MultiPolygon",
        "coordinates": [[list(cell(5, 5).exterior.coords)], [list(cell(7, 7).exterior.coords)]],
    }
    errors = refuse(session, write(FILE, feature_collection([feature(f"{COMMUNITY}005", parts)])))
    assert errors[0].field == "geometry"
    assert "2 块" in errors[0].problem


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        pytest.param('{"type": "FeatureCollection",\n "features": [,]\n}', 2, None, id="not JSON"),
        pytest.param('{"type": "Feature", "features": []}', None, "type", id="not a FeatureCollection"),
        pytest.param('[{"type": "FeatureCollection"}]', None, "type", id="a list"),
        pytest.param(
            '{"type": "FeatureCollection", "features": {}}', None, "features", id="features not a list"
        ),
    ],
)
def test_a_file_that_is_no_feature_collection_is_refused(
    session: Session, communities: None, write: Writer, text: str, row: int | None, field: str | None
) -> None:
    errors = refuse(session, write(FILE, text))
    assert [(error.file, error.row, error.field) for error in errors] == [(FILE, row, field)]


def test_invalid_json_names_the_line(session: Session, communities: None, write: Writer) -> None:
    errors = refuse(session, write(FILE, '{"type": "FeatureCollection",\n "features": [,]\n}'))
    assert str(errors[0]).startswith(f"{FILE} 第2行：不是合法的 JSON")


def grid(code: str, geometry: Polygon | dict[str, Any], **properties: Any) -> dict[str, Any]:
    return feature(f"{COMMUNITY}{code}", geometry, **properties)


POINT = {"type": "Point", "coordinates": [114.9, 27.8]}
THREE_POINTS = {"type": "Polygon", "coordinates": [[[114.9, 27.8], [115, 27.8], [114.9, 27.8]]]}
OVERLAPPING = grid("009", cell(-0.5, 0))  # half over the first good grid only
# name → (feature, field, words of the problem). The feature is put before or after the good ones.
BAD_FEATURES = {
    "self-intersecting bow tie": (grid("009", BOW_TIE), "geometry", "Self-intersection"),
    "overlaps the first grid": (OVERLAPPING, "geometry", f"{COMMUNITY}001"),
    "code of another community": (feature(f"{OTHER_COMMUNITY}009", FAR_CELL), "code", COMMUNITY),
    "code of 14 digits": (grid("09", FAR_CELL), "code", "15 位数字"),
    "unknown community": (
        feature("360502001099009", FAR_CELL, community="360502001099"),
        "community_code",
        "360502001099",
    ),
    "community given a street code": (
        feature("360502001009009", FAR_CELL, community="360502001"),
        "community_code",
        "360502001",
    ),
    "unknown responsibility grid": (
        grid("009", FAR_CELL, responsibility="36050200100199"),
        "responsibility_grid_code",
        "36050200100199",
    ),
    "responsibility grid of another community": (
        feature(f"{OTHER_COMMUNITY}009", FAR_CELL, community=OTHER_COMMUNITY, responsibility=RESPONSIBILITY),
        "responsibility_grid_code",
        OTHER_COMMUNITY,
    ),
    "longitude 500": (grid("009", box(500, 27.8, 500.001, 27.801)), "geometry", "超出"),
    "latitude -100": (grid("009", box(114.9, -100.001, 114.901, -100)), "geometry", "超出"),
    "point instead of polygon": (grid("009", POINT), "geometry", "Polygon"),
    "ring of three points": (grid("009", THREE_POINTS), "geometry", "无效"),
    "empty polygon": (grid("009", {"type": "Polygon", "coordinates": []}), "geometry", "为空"),
    "no geometry": (grid("009", {}), "geometry", "Polygon"),
    "no properties": ({"type": "Feature", "geometry": None}, "properties", "缺少"),
    "code twice": (grid("001", FAR_CELL), "code", "重复"),
}
# Errors about a pair of features are reported on the later one.
PAIRS = {"overlaps the first grid": OVERLAPPING["properties"]["code"], "code twice": "重复"}


@pytest.mark.parametrize("position", ["first", "last"])
@pytest.mark.parametrize("case", list(BAD_FEATURES))
def test_a_bad_feature_refuses_the_whole_file(
    session: Session, communities: None, write: Writer, position: str, case: str
) -> None:
    bad, field, words = BAD_FEATURES[case]
    features = [bad, *GOOD_FEATURES] if position == "first" else [*GOOD_FEATURES, bad]
    row = features.index(bad) + 1
    if position == "first" and case in PAIRS:
        row, words = 2, PAIRS[case]
    errors = refuse(session, write(FILE, feature_collection(features)))
    assert [(error.file, error.row, error.field) for error in errors] == [(FILE, row, field)]
    assert words in errors[0].problem


def test_a_refused_file_leaves_stored_grids_as_they_were(
    session: Session, communities: None, write: Writer
) -> None:
    import_file(session, "unit-grids", write(FILE, GOOD_FILES[FILE]))
    stored = {row.code: row.geometry for row in session.exec(select(UnitGrid)).all()}
    moved = feature(f"{OTHER_COMMUNITY}001", FAR_CELL, community=OTHER_COMMUNITY)
    refuse(session, write(FILE, feature_collection([*GOOD_FEATURES[:2], moved, grid("009", BOW_TIE)])))
    session.expire_all()
    assert {row.code: row.geometry for row in session.exec(select(UnitGrid)).all()} == stored


def test_a_bow_tie_reads_as_an_invalid_polygon(session: Session, communities: None, write: Writer) -> None:
    errors = refuse(session, write(FILE, feature_collection([*GOOD_FEATURES, grid("009", BOW_TIE)])))
    assert str(errors[0]).startswith(f"{FILE} 第4个要素 字段“geometry”：多边形无效：Self-intersection")


def test_touching_grids_and_slivers_under_one_square_metre_are_not_overlaps(
    session: Session, communities: None, write: Writer
) -> None:
    sliver = 0.5 / 111_320  # half a metre of latitude along a 100 m edge: 50 m², more than allowed
    tiny = 0.005 / 111_320  # half a centimetre: 0.5 m², tolerated
    above = cell(0, 1)
    base = [grid("001", cell(0, 0)), grid("003", cell(1, 0))]
    accepted = [*base, grid("002", box(*above.bounds[:1], above.bounds[1] - tiny, *above.bounds[2:]))]
    assert import_file(session, "unit-grids", write(FILE, feature_collection(accepted))).stats.created == 3
    refused = [*base, grid("002", box(*above.bounds[:1], above.bounds[1] - sliver, *above.bounds[2:]))]
    errors = refuse(session, write(FILE, feature_collection(refused)))
    assert [(error.row, error.field) for error in errors] == [(3, "geometry")]
    assert f"与网格 {COMMUNITY}001 重叠" in errors[0].problem


def test_a_bad_grid_code_names_the_feature_not_a_line(
    session: Session, communities: None, write: Writer
) -> None:
    errors = refuse(session, write(FILE, feature_collection([*GOOD_FEATURES, grid("09", FAR_CELL)])))
    assert str(errors[0]).startswith(f"{FILE} 第4个要素 字段“code”")


def test_a_grid_overlapping_a_stored_grid_of_another_file_is_refused(
    session: Session, communities: None, write: Writer
) -> None:
    import_file(session, "unit-grids", write(FILE, GOOD_FILES[FILE]))
    other = write(FILE, feature_collection([grid("009", cell(0, 0))]), folder="other")
    errors = refuse(session, other)
    assert errors[0].field == "geometry"
