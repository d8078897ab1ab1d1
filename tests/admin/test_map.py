"""The console map: the page for every role, and its GeoJSON endpoints (grids with an ETag, the cases
this account may see, places), with 422 JSON problems for a bad viewport."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.geo import features
from core.kit.clock import utcnow
from core.models import CaseStatus, Place, PlaceKind, StaffRole
from core.settings import get_settings
from tests.admin.conftest import console_for, sign_in
from tests.fixtures.cases import City, MakeCase, make_case_in
from tests.fixtures.factories import CELL_LAT, CELL_LNG, ORIGIN

CITY_BOX = f"{ORIGIN[0] - 0.01},{ORIGIN[1] - 0.01},{ORIGIN[0] + 0.01},{ORIGIN[1] + 0.01}"


@pytest.fixture(autouse=True)
def fresh_grid_cache() -> Iterator[None]:
    """The grid layers are cached per process; each test has its own (rolled-back) grids."""
    features.invalidate_grid_cache()
    yield
    features.invalidate_grid_cache()


@pytest.mark.parametrize("role", list(StaffRole))
def test_every_role_gets_the_map_page(console: TestClient, city: City, role: StaffRole) -> None:
    sign_in(console, city.staff[role])
    page = console.get("/map")
    assert page.status_code == 200
    assert 'id="map"' in page.text
    assert "vendor/leaflet-1.9.4/leaflet.js" in page.text
    assert "map.js" in page.text
    assert "待受理" in page.text
    assert "只看超期" in page.text
    assert 'href="http://testserver/map"' in page.text  # the nav item
    # The map starts on the city's grids (min_lng,min_lat,max_lng,max_lat).
    assert f'data-bounds="{ORIGIN[0]:.6f},{ORIGIN[1]:.6f},' in page.text
    assert 'data-tile-url=""' in page.text


def test_a_configured_tile_server_is_passed_to_the_map(session: Session, city: City) -> None:
    settings = get_settings().model_copy(deep=True)
    settings.console.map_tile_url = (
        "https://t0.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=K"
    )
    settings.console.map_tile_attribution = "© 天地图"
    with console_for(session, settings) as console:
        sign_in(console, city.staff[StaffRole.OPERATOR])
        page = console.get("/map", params={"center": "114.9,27.8", "zoom": "18"})
    assert 'data-tile-url="https://t0.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&amp;TILEROW={y}' in page.text
    assert 'data-tile-attribution="© 天地图"' in page.text
    assert 'data-center="114.900000,27.800000"' in page.text
    assert 'data-zoom="18"' in page.text
    assert "https://t0.tianditu.gov.cn" in page.headers["content-security-policy"]


def test_an_invalid_start_view_is_ignored(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    for params in ({"center": "x,y"}, {"center": "114.9,95"}, {"center": "114.9,27.8", "zoom": "40"}):
        page = console.get("/map", params=params)
        assert page.status_code == 200
        assert 'data-center=""' in page.text


def test_signed_out_map_and_data_go_to_sign_in(console: TestClient) -> None:
    for path in ("/map", f"/map/data/cases?bbox={CITY_BOX}"):
        answer = console.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")


def test_unit_grids_when_zoomed_in_with_an_etag(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    answer = console.get(f"/map/data/grids?bbox={CITY_BOX}&zoom=17")
    assert answer.status_code == 200
    assert "json" in answer.headers["content-type"]
    body = answer.json()
    assert body["type"] == "FeatureCollection"
    assert body["level"] == "unit"
    assert body["truncated"] is False
    codes = sorted(feature["properties"]["code"] for feature in body["features"])
    assert codes == [f"{city.community.code}{seq:03d}" for seq in range(1, 5)]
    assert body["features"][0]["geometry"]["type"] == "Polygon"

    etag = answer.headers["etag"]
    again = console.get(f"/map/data/grids?bbox={CITY_BOX}&zoom=17", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    other_zoom = console.get(f"/map/data/grids?bbox={CITY_BOX}&zoom=12", headers={"If-None-Match": etag})
    assert other_zoom.status_code == 200


def test_outlines_when_zoomed_out(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.LEADER])
    responsibility = console.get(f"/map/data/grids?bbox={CITY_BOX}&zoom=15").json()
    assert responsibility["level"] == "responsibility"
    assert [f["properties"]["code"] for f in responsibility["features"]] == [f"{city.community.code}01"]
    community = console.get(f"/map/data/grids?bbox={CITY_BOX}&zoom=11").json()
    assert community["level"] == "community"
    (outline,) = community["features"]
    assert outline["properties"] == {
        "code": city.community.code,
        "level": "community",
        "name": city.community.name,
    }
    assert outline["geometry"]["type"] == "Polygon"  # the four cells merged into one outline


def test_grids_outside_the_box_are_not_sent(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    far = console.get("/map/data/grids?bbox=100,20,100.1,20.1&zoom=17").json()
    assert far["features"] == []


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("zoom=17", "bbox"),
        ("bbox=1,2,3&zoom=17", "bbox"),
        ("bbox=a,b,c,d&zoom=17", "非数字"),
        ("bbox=nan,1,2,3&zoom=17", "非数字"),
        ("bbox=114,100,115,101&zoom=17", "纬度"),
        ("bbox=115,27,114,28&zoom=17", "最小值"),
        (f"bbox={CITY_BOX}", "zoom"),
        (f"bbox={CITY_BOX}&zoom=abc", "整数"),
        (f"bbox={CITY_BOX}&zoom=99", "0 到"),
    ],
)
def test_a_bad_viewport_is_a_422_json_problem(
    console: TestClient, city: City, query: str, fragment: str
) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    answer = console.get(f"/map/data/grids?{query}")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["code"] == "invalid_map_query"
    assert fragment in body["message"]


def test_cases_are_coloured_by_stage_and_red_when_overdue(
    console: TestClient, city: City, make_case: MakeCase
) -> None:
    pending = make_case(CaseStatus.PENDING)
    dispatched = make_case(CaseStatus.DISPATCHED)
    dispatched.handle_due_at = utcnow() - timedelta(hours=1)
    closed = make_case(CaseStatus.CLOSED)
    city.session.flush()
    sign_in(console, city.staff[StaffRole.SHIFT_LEAD])

    answer = console.get(f"/map/data/cases?bbox={CITY_BOX}")
    assert answer.status_code == 200
    body = answer.json()
    by_no = {f["properties"]["case_no"]: f for f in body["features"]}
    assert closed.case_no not in by_no
    shown = by_no[pending.case_no]
    assert shown["geometry"]["coordinates"] == [round(pending.lng, 6), round(pending.lat, 6)]
    assert shown["properties"]["status_label"] == "待受理"
    assert shown["properties"]["category"] == "上水井盖"
    assert shown["properties"]["overdue"] is False
    assert by_no[dispatched.case_no]["properties"]["overdue"] is True
    assert by_no[dispatched.case_no]["properties"]["due"]

    only_overdue = console.get(f"/map/data/cases?bbox={CITY_BOX}&overdue=1").json()
    assert [f["properties"]["case_no"] for f in only_overdue["features"]] == [dispatched.case_no]
    only_pending = console.get(f"/map/data/cases?bbox={CITY_BOX}&status=pending").json()
    assert {f["properties"]["status"] for f in only_pending["features"]} == {"pending"}


def test_cases_filter_by_category(console: TestClient, city: City) -> None:
    manhole = make_case_in(city, 0)
    rubbish = make_case_in(city, 1)
    sign_in(console, city.staff[StaffRole.OPERATOR])
    minor = console.get(f"/map/data/cases?bbox={CITY_BOX}&category={city.rubbish.code}").json()
    assert [f["properties"]["case_no"] for f in minor["features"]] == [rubbish.case_no]
    major = console.get(f"/map/data/cases?bbox={CITY_BOX}&category={city.manhole.code[:4]}").json()
    assert [f["properties"]["case_no"] for f in major["features"]] == [manhole.case_no]


def test_cases_only_those_the_account_may_see(console: TestClient, city: City, make_case: MakeCase) -> None:
    theirs = make_case(CaseStatus.DISPATCHED)  # the municipal department's
    waiting = make_case(CaseStatus.PENDING)  # no department yet
    sign_in(console, city.staff[StaffRole.HANDLER])  # a municipal handler
    shown = {
        f["properties"]["case_no"] for f in console.get(f"/map/data/cases?bbox={CITY_BOX}").json()["features"]
    }
    assert theirs.case_no in shown
    assert waiting.case_no not in shown

    other = city.staff_member(StaffRole.HANDLER, department=city.sanitation)
    console.cookies.clear()
    sign_in(console, other)
    assert console.get(f"/map/data/cases?bbox={CITY_BOX}").json()["features"] == []


@pytest.mark.parametrize("query", ["status=closed", "status=nonsense", "category=BJ01;drop"])
def test_a_bad_case_filter_is_a_422_json_problem(console: TestClient, city: City, query: str) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    answer = console.get(f"/map/data/cases?bbox={CITY_BOX}&{query}")
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_map_query"


def test_places_layer(console: TestClient, city: City) -> None:
    lng, lat = ORIGIN[0] + CELL_LNG / 2, ORIGIN[1] + CELL_LAT / 2
    rows = [
        Place(
            code="MAP-T1",
            kind=PlaceKind.TOILET,
            name="人民公园公厕",
            lng=lng,
            lat=lat,
            open_hours="06:00-22:00",
        ),
        Place(code="MAP-P1", kind=PlaceKind.PARKING, name="北门停车场", lng=lng, lat=lat, capacity=120),
        Place(code="MAP-X1", kind=PlaceKind.TOILET, name="已停用公厕", lng=lng, lat=lat, active=False),
    ]
    city.session.add_all(rows)
    city.session.flush()
    sign_in(console, city.staff[StaffRole.SUPERVISOR])

    body = console.get(f"/map/data/places?bbox={CITY_BOX}").json()
    by_code = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    assert set(by_code) == {"MAP-T1", "MAP-P1"}
    assert by_code["MAP-T1"]["kind_label"] == "公厕"
    assert by_code["MAP-P1"]["capacity"] == 120
    toilets = console.get(f"/map/data/places?bbox={CITY_BOX}&kind=toilet").json()
    assert [f["properties"]["code"] for f in toilets["features"]] == ["MAP-T1"]
    bad = console.get(f"/map/data/places?bbox={CITY_BOX}&kind=bench")
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_map_query"
