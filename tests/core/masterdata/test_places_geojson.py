"""Places from a GeoJSON FeatureCollection of points: the CSV's fields as properties, typed or as text,
the same validation and upsert, errors by feature number."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from core.masterdata.errors import ImportFailed, RowError
from core.masterdata.service import import_file, import_folders
from core.models import Place
from tests.core.masterdata.files import GOOD_FILES, Writer, count, counts, feature_collection

FILE = "places.geojson"
FEATURE = "个要素"


def point(code: str, lng: float = 114.91, lat: float = 27.81, **properties: Any) -> dict[str, Any]:
    """A toilet feature with every required property; ``properties`` override or add."""
    values: dict[str, Any] = {
        "code": code,
        "kind": "toilet",
        "name": f"公厕{code}",
        "address": "北湖路1号",
        "open_hours": "00:00-24:00",
        "capacity": None,
        "fee_note": "免费",
        "accessible": True,
    }
    values.update(properties)
    return {"type": "Feature", "properties": values, "geometry": {"type": "Point", "coordinates": [lng, lat]}}


def place(session: Session, code: str) -> Place:
    return session.exec(select(Place).where(Place.code == code)).one()


def load(session: Session, write: Writer, features: list[dict[str, Any]], name: str = FILE) -> Any:
    return import_file(session, "places", write(name, feature_collection(features)))


def refuse(session: Session, path: Path) -> list[RowError]:
    before = counts(session)
    with pytest.raises(ImportFailed) as caught:
        import_file(session, "places", path)
    assert counts(session) == before
    return caught.value.errors


def positions(errors: list[RowError]) -> list[tuple[int | None, str | None]]:
    assert {error.unit for error in errors if error.row is not None} <= {FEATURE}
    return [(error.row, error.field) for error in errors]


GOOD = [
    point("WC001", baby_room=True, attributes={"家庭卫生间": True}),
    point(
        "P001",
        114.92,
        27.82,
        kind="parking",
        name="北湖停车场",
        open_hours="06:00-22:00",
        capacity=120,
        fee_note="2元/小时",
        accessible=False,
        ev_charging=True,
        free=False,
        attributes={"限高米": 2.2},
    ),
]


def test_typed_properties_import(session: Session, write: Writer) -> None:
    result = load(session, write, GOOD)
    assert (result.stats.rows, result.stats.created, result.stats.updated) == (2, 2, 0)
    toilet = place(session, "WC001")
    assert (toilet.kind.value, toilet.lng, toilet.lat, toilet.capacity) == ("toilet", 114.91, 27.81, None)
    assert (toilet.accessible, toilet.baby_room, toilet.ev_charging, toilet.free) == (True, True, False, True)
    assert json.loads(toilet.attributes or "") == {"家庭卫生间": True}
    lot = place(session, "P001")
    assert (lot.capacity, lot.ev_charging, lot.free, lot.accessible) == (120, True, False, False)
    assert json.loads(lot.attributes or "") == {"限高米": 2.2}


def test_csv_style_text_values_are_accepted(session: Session, write: Writer) -> None:
    feature = point(
        "P002",
        kind="parking",
        capacity="80",
        accessible="是",
        ev_charging="1",
        free="false",
        attributes='{"限高米": 2.0}',
        name="  南湖停车场  ",
    )
    load(session, write, [feature], name="places.json")
    lot = place(session, "P002")
    assert (lot.name, lot.capacity, lot.accessible, lot.ev_charging, lot.free) == (
        "南湖停车场",
        80,
        True,
        True,
        False,
    )
    assert json.loads(lot.attributes or "") == {"限高米": 2.0}


def test_an_integral_float_capacity_and_an_altitude_are_accepted(session: Session, write: Writer) -> None:
    feature = point("P003", kind="parking", capacity=50.0)
    feature["geometry"]["coordinates"] = [114.9, 27.8, 42.5]
    load(session, write, [feature])
    lot = place(session, "P003")
    assert (lot.capacity, lot.lng, lot.lat) == (50, 114.9, 27.8)


def test_reimporting_changes_nothing_and_a_moved_place_updates(session: Session, write: Writer) -> None:
    load(session, write, GOOD)
    session.expire_all()
    again = load(session, write, GOOD)
    assert (again.stats.rows, again.stats.created, again.stats.updated) == (2, 0, 0)
    moved = copy.deepcopy(GOOD)
    moved[1]["geometry"]["coordinates"] = [114.93, 27.83]
    result = load(session, write, moved)
    assert (result.stats.created, result.stats.updated) == (0, 1)
    assert (place(session, "P001").lng, place(session, "P001").lat) == (114.93, 27.83)
    assert count(session, Place) == 2


def test_the_same_places_as_csv_and_as_geojson_are_one_set(session: Session, write: Writer) -> None:
    import_file(session, "places", write("places.csv", GOOD_FILES["places.csv"]))
    session.expire_all()
    features = [
        point("WC001", name="北湖公厕", open_hours="全天"),
        point(
            "P001",
            114.92,
            27.82,
            kind="parking",
            name="北湖停车场",
            address="北湖路2号",
            open_hours="06:00-22:00",
            capacity=120,
            fee_note="2元/小时",
            accessible=False,
        ),
    ]
    result = load(session, write, features)
    assert (result.stats.created, result.stats.updated) == (0, 0)


def test_an_absent_optional_property_keeps_the_stored_value(session: Session, write: Writer) -> None:
    load(session, write, GOOD)
    bare = copy.deepcopy(GOOD[1])
    for name in ("ev_charging", "free", "attributes"):
        del bare["properties"][name]
    bare["properties"]["capacity"] = 100
    load(session, write, [bare])
    lot = place(session, "P001")
    assert (lot.capacity, lot.ev_charging, lot.free) == (100, True, False)
    assert json.loads(lot.attributes or "") == {"限高米": 2.2}

    # Present as null, an optional property is empty, as an empty CSV cell: false / no attributes.
    cleared = copy.deepcopy(GOOD[1])
    cleared["properties"].update(ev_charging=None, attributes=None)
    load(session, write, [cleared])
    session.refresh(lot)
    assert (lot.ev_charging, lot.attributes) == (False, None)


def test_a_new_place_without_free_follows_its_fee_note(session: Session, write: Writer) -> None:
    load(session, write, [point("WC010", fee_note="免费"), point("WC011", fee_note="0.5元/次")])
    assert (place(session, "WC010").free, place(session, "WC011").free) == (True, False)


def test_a_folder_may_hold_places_geojson(session: Session, write: Writer) -> None:
    for name, text in GOOD_FILES.items():
        if name != "places.csv":
            write(name, text, folder="geo")
    path = write(FILE, feature_collection(GOOD), folder="geo")
    results = import_folders(session, [path.parent])
    assert [result.source for result in results if result.kind == "places"] == [str(path)]
    assert count(session, Place) == 2


def test_a_folder_with_places_csv_and_places_geojson_is_refused(session: Session, write: Writer) -> None:
    for name, text in GOOD_FILES.items():
        write(name, text, folder="both")
    path = write(FILE, feature_collection(GOOD), folder="both")
    before = counts(session)
    with pytest.raises(ImportFailed) as caught:
        import_folders(session, [path.parent])
    assert counts(session) == before
    [error] = caught.value.errors
    assert (error.file, error.row, error.field) == (str(path.parent), None, None)
    assert "places.csv、places.geojson" in error.problem
    assert "只保留一个" in str(error)


def geometry(value: Any) -> dict[str, Any]:
    feature = point("WC002")
    if value is ...:
        del feature["geometry"]
    else:
        feature["geometry"] = value
    return feature


@pytest.mark.parametrize(
    ("feature", "field", "words"),
    [
        (geometry(...), "geometry", "缺少几何"),
        (geometry(None), "geometry", "缺少几何"),
        (
            geometry({"type": "Polygon", "coordinates": [[[114.9, 27.8], [114.91, 27.8], [114.9, 27.81]]]}),
            "geometry",
            "应为 Point（此处为 Polygon）",
        ),
        (geometry({"type": "MultiPoint", "coordinates": [[114.9, 27.8]]}), "geometry", "应为 Point"),
        (geometry([114.9, 27.8]), "geometry", "应为 Point"),
        (geometry({"type": "Point", "coordinates": ["114.9", "27.8"]}), "geometry", "两个数字"),
        (geometry({"type": "Point", "coordinates": [114.9]}), "geometry", "两个数字"),
        (geometry({"type": "Point"}), "geometry", "两个数字"),
        (geometry({"type": "Point", "coordinates": [True, 27.8]}), "geometry", "两个数字"),
        (geometry({"type": "Point", "coordinates": [27.8, 114.9]}), "geometry", "超出经纬度范围"),
        (geometry({"type": "Point", "coordinates": [181, 27.8]}), "geometry", "超出经纬度范围"),
        ({**point("WC002"), "properties": "x"}, "properties", "缺少属性"),
        ({k: v for k, v in point("WC002").items() if k != "properties"}, "properties", "缺少属性"),
        (point("WC002", kind="bench"), "kind", "不是允许的值"),
        (point("WC002", name=""), "name", "不能为空"),
        (point("WC002", name={"zh": "公厕"}), "name", "应为文本，不能是 JSON 对象"),
        (point("WC002", name=True), "name", "不能是 JSON 布尔值"),
        (point("WC 002"), "code", "格式不正确"),
        (point("WC002", capacity=-1), "capacity", "小于最小值"),
        (point("WC002", capacity=12.5), "capacity", "不是整数"),
        (point("WC002", capacity=True), "capacity", "应为整数"),
        (point("WC002", capacity=float("nan")), "capacity", "不是有效的数字"),
        (point("WC002", accessible="maybe"), "accessible", "不是布尔值"),
        (point("WC002", accessible=2), "accessible", "不是布尔值"),
        (point("WC002", baby_room=[True]), "baby_room", "应为布尔值"),
        (point("WC002", attributes=[1, 2]), "attributes", "应为 JSON 对象"),
        (point("WC002", attributes="not-json"), "attributes", "不是合法的 JSON"),
        (point("WC002", attributes={"说明": "长" * 4000}), "attributes", "长度超过上限"),
        (point("WC002", fee_note="免\x00费"), "fee_note", "控制字符"),
    ],
)
def test_a_bad_feature_refuses_the_file(
    session: Session, write: Writer, feature: dict[str, Any], field: str, words: str
) -> None:
    errors = refuse(session, write(FILE, feature_collection([point("WC001"), feature])))
    assert positions(errors) == [(2, field)]
    assert words in errors[0].problem
    assert str(errors[0]).startswith(f"{FILE} 第2个要素 字段“{field}”")


def test_a_missing_required_property_is_named_and_the_other_fields_still_checked(
    session: Session, write: Writer
) -> None:
    feature = point("WC002", capacity=-1)
    del feature["properties"]["accessible"]
    del feature["properties"]["address"]
    feature["geometry"] = {"type": "LineString", "coordinates": [[114.9, 27.8], [114.91, 27.8]]}
    errors = refuse(session, write(FILE, feature_collection([feature])))
    assert positions(errors) == [(1, "address"), (1, "accessible"), (1, "geometry"), (1, "capacity")]
    assert errors[0].problem == "缺少该属性"


def test_every_bad_feature_is_reported_at_once(session: Session, write: Writer) -> None:
    features = [
        point("WC001"),
        point("WC002", 200, 27.8, capacity=-1, accessible="maybe"),
        "not a feature",
        point("WC001"),
    ]
    errors = refuse(session, write(FILE, feature_collection(features)))
    assert positions(errors) == [
        (2, "geometry"),
        (2, "capacity"),
        (2, "accessible"),
        (3, None),
        (4, "code"),
    ]
    assert "重复" in errors[-1].problem


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"type": "Feature", "properties": {}}', "type"),
        ('{"type": "FeatureCollection"}', "features"),
        ("[1, 2]", "type"),
    ],
)
def test_a_file_that_is_not_a_feature_collection_is_refused(
    session: Session, write: Writer, text: str, field: str
) -> None:
    errors = refuse(session, write(FILE, text))
    assert [(error.row, error.field) for error in errors] == [(None, field)]


def test_invalid_json_names_its_line(session: Session, write: Writer) -> None:
    errors = refuse(session, write(FILE, '{"type": "FeatureCollection",\n "features": [,]}'))
    assert [(error.row, error.field) for error in errors] == [(2, None)]
    assert "不是合法的 JSON" in errors[0].problem
