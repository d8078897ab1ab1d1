"""Export writes every kind in exactly the import format: export → import changes nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlmodel import Session

from core.demo.generate import generate
from core.demo.load import XINYU_DATA
from core.masterdata.export import export_kind
from core.masterdata.service import KINDS, import_file, import_folders
from tests.core.masterdata.files import GOOD_ROWS, MODELS, Writer, count

RICH_PLACES = (
    "code,kind,name,address,lng,lat,open_hours,capacity,fee_note,accessible,baby_room,ev_charging,free,"
    "attributes\n"
    'WC001,toilet,北湖公厕,"北湖路1号, 东侧",114.9123456789,27.81,全天,,免费,true,true,false,true,'
    '"{""家庭卫生间"": true, ""a"": 1}"\n'
    "P001,parking,北湖停车场,北湖路2号,114.92,27.82,06:00-22:00,120,2元/小时,false,false,true,false,\n"
)


def _round_trip(session: Session, tmp_path: Path, kind: str, *, geojson: bool = False) -> None:
    exported = export_kind(session, kind, geojson=geojson)
    path = tmp_path / "export" / exported.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(exported.text, encoding="utf-8")
    result = import_file(session, kind, path)
    assert (result.stats.created, result.stats.updated) == (0, 0), (kind, exported.text[:500])
    assert result.stats.rows == exported.rows == count(session, MODELS[kind])


@pytest.mark.parametrize("kind", [kind.name for kind in KINDS])
def test_every_kind_round_trips_unchanged(
    session: Session, good_folder: Path, write: Writer, tmp_path: Path, kind: str
) -> None:
    import_folders(session, [good_folder])
    import_file(session, "places", write("places.csv", RICH_PLACES))
    assert count(session, MODELS[kind]) == GOOD_ROWS[kind]
    _round_trip(session, tmp_path, kind)


def test_places_round_trip_as_geojson(
    session: Session, good_folder: Path, write: Writer, tmp_path: Path
) -> None:
    import_folders(session, [good_folder])
    import_file(session, "places", write("places.csv", RICH_PLACES))
    exported = export_kind(session, "places", geojson=True)
    assert exported.file_name == "places.geojson"
    document = json.loads(exported.text)
    first = document["features"][1]  # sorted by code: P001, WC001
    assert first["properties"]["attributes"] == {"a": 1, "家庭卫生间": True}
    assert first["geometry"]["coordinates"] == [114.9123456789, 27.81]
    _round_trip(session, tmp_path, "places", geojson=True)


def _demo_city(session: Session, tmp_path: Path) -> None:
    """The demo city's generated areas, responsibility grids and places, and the hand-authored Xinyu
    files (departments with parents, 100+ categories, decimal time limits, routing by street)."""
    files = generate(tmp_path / "demo")
    import_file(session, "areas", files.areas)
    import_file(session, "responsibility-grids", files.responsibility_grids)
    import_file(session, "places", files.places)
    import_folders(session, [XINYU_DATA])


def test_the_demo_city_round_trips(session: Session, tmp_path: Path) -> None:
    _demo_city(session, tmp_path)
    for kind in (
        "areas",
        "departments",
        "categories",
        "register-standards",
        "routing",
        "responsibility-grids",
    ):
        _round_trip(session, tmp_path, kind)
    _round_trip(session, tmp_path, "places")
    _round_trip(session, tmp_path, "places", geojson=True)


def test_parents_come_before_children(session: Session, tmp_path: Path) -> None:
    """So that an exported folder also imports into an empty database."""
    _demo_city(session, tmp_path)
    for kind in ("areas", "departments", "categories"):
        seen: set[str] = set()
        for row in csv.DictReader(io.StringIO(export_kind(session, kind).text)):
            assert not row["parent_code"] or row["parent_code"] in seen, (kind, row)
            seen.add(row["code"])


def test_exports_have_the_importers_file_names(session: Session) -> None:
    for kind in KINDS:
        exported = export_kind(session, kind.name)
        assert exported.file_name == kind.file_name
        assert exported.rows == 0
