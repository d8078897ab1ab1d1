"""The demo city generator: counts, codes, a clean tiling of the service area, determinism."""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, Polygon, shape

from core.demo.generate import SERVICE_AREA, STREETS, DemoFiles, generate

LAT0 = 27.818
M_PER_DEG = 111_320.0


def km2(polygon_area_deg2: float) -> float:
    """Degrees² → km² with the local cos(lat) approximation."""
    return polygon_area_deg2 * M_PER_DEG * M_PER_DEG * math.cos(math.radians(LAT0)) / 1e6


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def features(files: DemoFiles) -> list[dict[str, Any]]:
    document = json.loads(files.unit_grids.read_text(encoding="utf-8"))
    assert document["type"] == "FeatureCollection"
    return list(document["features"])


@pytest.fixture(scope="module")
def polygons(features: list[dict[str, Any]]) -> list[Polygon]:
    result = [shape(feature["geometry"]) for feature in features]
    assert all(isinstance(polygon, Polygon) for polygon in result)
    return result  # type: ignore[return-value]


@pytest.fixture(scope="module")
def areas(files: DemoFiles) -> list[dict[str, str]]:
    return read_csv(files.areas)


def test_service_area_is_about_78_km2_around_xinyu() -> None:
    assert SERVICE_AREA.is_valid
    assert 70.2 <= km2(SERVICE_AREA.area) <= 85.8
    assert len(SERVICE_AREA.exterior.coords) >= 20
    assert SERVICE_AREA.minimum_rotated_rectangle.area > SERVICE_AREA.area * 1.05  # not a rectangle
    assert SERVICE_AREA.contains(Point(114.917, 27.818))


def test_areas_hierarchy(areas: list[dict[str, str]]) -> None:
    assert areas[0] == {"code": "360502", "name": "渝水区", "level": "district", "parent_code": ""}
    streets = [row for row in areas if row["level"] == "street"]
    assert [(row["code"], row["name"]) for row in streets] == STREETS
    assert 5 <= len(streets) <= 8
    seen: dict[str, str] = {}
    for row in areas:
        if row["parent_code"]:
            assert row["parent_code"] in seen, f"{row['code']} listed before its parent"
        seen[row["code"]] = row["level"]
    communities = Counter(row["parent_code"] for row in areas if row["level"] == "community")
    assert set(communities) == {code for code, _ in STREETS}
    assert all(4 <= count <= 10 for count in communities.values())
    for row in areas:
        if row["level"] == "community":
            assert re.fullmatch(row["parent_code"] + r"\d{3}", row["code"])
            assert row["name"].endswith("社区")
    assert len({row["name"] for row in areas}) == len(areas)


def test_unit_grid_counts_and_codes(features: list[dict[str, Any]], areas: list[dict[str, str]]) -> None:
    assert len(features) >= 7000
    communities = {row["code"] for row in areas if row["level"] == "community"}
    codes = [feature["properties"]["code"] for feature in features]
    assert len(set(codes)) == len(codes)
    for feature in features:
        properties = feature["properties"]
        assert set(properties) == {"code", "community_code", "responsibility_grid_code"}
        assert re.fullmatch(r"360502\d{9}", properties["code"])
        assert properties["code"][:12] == properties["community_code"]
        assert properties["community_code"] in communities
        assert properties["responsibility_grid_code"][:12] == properties["community_code"]
    per_community = Counter(feature["properties"]["community_code"] for feature in features)
    assert set(per_community) == communities
    assert max(per_community.values()) <= 999


def test_responsibility_grids(files: DemoFiles, features: list[dict[str, Any]]) -> None:
    rows = read_csv(files.responsibility_grids)
    codes = {row["code"] for row in rows}
    assert len(codes) == len(rows)
    for row in rows:
        assert re.fullmatch(row["community_code"] + r"\d{2}", row["code"])
        assert row["name"].endswith("责任网格")
    sizes = Counter(feature["properties"]["responsibility_grid_code"] for feature in features)
    assert set(sizes) == codes
    assert all(9 <= size <= 25 for size in sizes.values())


def test_polygons_are_valid_closed_and_counter_clockwise(
    features: list[dict[str, Any]], polygons: list[Polygon]
) -> None:
    for feature, polygon in zip(features, polygons, strict=True):
        ring = feature["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
        assert all(round(value, 7) == value for point in ring for value in point)
        assert polygon.is_valid, feature["properties"]["code"]
        assert polygon.exterior.is_ccw
        assert km2(polygon.area) <= 0.0101  # at most one 100 m × 100 m cell


def test_polygons_do_not_overlap(polygons: list[Polygon]) -> None:
    tree = shapely.STRtree(polygons)
    left, right = tree.query(polygons, predicate="intersects")
    pairs = left < right
    overlaps = shapely.area(
        shapely.intersection(
            [polygons[i] for i in left[pairs]],
            [polygons[j] for j in right[pairs]],
        )
    )
    assert float(overlaps.max(initial=0.0)) < 1e-12  # degrees², ~0.01 m²


def test_union_covers_the_service_area(polygons: list[Polygon]) -> None:
    union = shapely.union_all(polygons)
    assert union.area == pytest.approx(SERVICE_AREA.area, rel=0.005)
    assert union.difference(SERVICE_AREA).area < SERVICE_AREA.area * 1e-4


def test_places(files: DemoFiles) -> None:
    rows = read_csv(files.places)
    kinds = Counter(row["kind"] for row in rows)
    assert kinds["toilet"] >= 200
    assert kinds["parking"] >= 100
    assert set(kinds) == {"toilet", "parking"}
    assert len({row["code"] for row in rows}) == len(rows)
    for row in rows:
        assert SERVICE_AREA.contains(Point(float(row["lng"]), float(row["lat"]))), row["code"]
        assert int(row["capacity"]) > 0
        assert row["accessible"] in {"true", "false"}
        assert re.fullmatch(r"\d{2}:\d{2}-\d{2}:\d{2}", row["open_hours"])
        assert row["address"].startswith("渝水区")
        assert row["name"].endswith("公厕" if row["kind"] == "toilet" else ("停车场", "停车泊位"))


def test_same_seed_gives_identical_bytes(files: DemoFiles, tmp_path: Path) -> None:
    again = generate(tmp_path, seed=20261121)
    for name in ("areas", "responsibility_grids", "unit_grids", "places"):
        assert getattr(again, name).read_bytes() == getattr(files, name).read_bytes(), name


def test_another_seed_gives_other_data(files: DemoFiles, tmp_path: Path) -> None:
    other = generate(tmp_path, seed=7)
    assert other.places.read_bytes() != files.places.read_bytes()
