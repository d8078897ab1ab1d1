"""Nearby open cases and likely duplicates: public, nearest first, never personal data."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from core.kit.clock import utcnow
from core.models import Case, CaseStatus
from tests.fixtures.cases import City, MakeCase


def place(city: City, case: Case, col: int, row: int, **changes: object) -> Case:
    case.lng, case.lat = city.point(col, row)
    for name, value in changes.items():
        setattr(case, name, value)
    city.session.add(case)
    city.session.flush()
    return case


def test_nearby_lists_open_public_cases_nearest_first(
    client: TestClient, city: City, make_case: MakeCase
) -> None:
    here = place(city, make_case(CaseStatus.DISPATCHED), 0, 0, description="井盖丢失，联系 13912345678")
    farther = place(city, make_case(CaseStatus.PENDING), 1, 1)
    place(city, make_case(CaseStatus.CLOSED), 0, 0)
    place(city, make_case(CaseStatus.REGISTERED), 0, 0, is_public=False)
    lng, lat = city.point(0, 0)
    response = client.get(
        "/api/v1/reports/nearby", params={"lng": lng, "lat": lat, "coord": "wgs84", "radius": 500}
    )
    assert response.status_code == 200
    found = response.json()
    assert [item["case_no"] for item in found] == [here.case_no, farther.case_no]
    assert found[0]["distance_m"] < found[1]["distance_m"]
    assert found[0]["status"] == "处置中"
    assert "13912345678" not in response.text
    assert "139****" in found[0]["description"]
    assert not {"reporter", "reporter_phone", "phone"} & set(found[0])


def test_nearby_filters_by_category_and_radius(client: TestClient, city: City, make_case: MakeCase) -> None:
    manhole = place(city, make_case(CaseStatus.PENDING), 0, 0)
    rubbish = place(city, make_case(CaseStatus.PENDING), 0, 0, category_id=city.rubbish.id)
    lng, lat = city.point(0, 0)
    by_minor = client.get(
        "/api/v1/reports/nearby", params={"lng": lng, "lat": lat, "coord": "wgs84", "category": "SJ0102"}
    ).json()
    assert [item["case_no"] for item in by_minor] == [rubbish.case_no]
    by_major = client.get(
        "/api/v1/reports/nearby", params={"lng": lng, "lat": lat, "coord": "wgs84", "category": "BJ01"}
    ).json()
    assert [item["case_no"] for item in by_major] == [manhole.case_no]
    far_lng, far_lat = city.point(6, 6)
    assert (
        client.get(
            "/api/v1/reports/nearby", params={"lng": far_lng, "lat": far_lat, "coord": "wgs84", "radius": 100}
        ).json()
        == []
    )


def test_duplicates_same_category_first_then_related_within_100m(
    client: TestClient, city: City, make_case: MakeCase
) -> None:
    lng, lat = city.point(0, 0)
    same = place(city, make_case(CaseStatus.PENDING), 0, 0)
    related_category = city.factory.category("BJ0102", "污水井盖")
    related = place(city, make_case(CaseStatus.REGISTERED), 0, 0, category_id=related_category.id)
    place(city, make_case(CaseStatus.PENDING), 0, 0, category_id=city.rubbish.id)  # another major
    place(city, make_case(CaseStatus.PENDING), 2, 0)  # ~200 m away
    place(city, make_case(CaseStatus.PENDING), 0, 0, created_at=utcnow() - timedelta(days=45))  # old
    response = client.get(
        "/api/v1/reports/duplicates", params={"lng": lng, "lat": lat, "coord": "wgs84", "category": "BJ0101"}
    )
    assert response.status_code == 200
    assert [item["case_no"] for item in response.json()] == [same.case_no, related.case_no]


def test_bad_input_is_a_clear_problem(client: TestClient, city: City) -> None:
    assert (
        client.get("/api/v1/reports/nearby", params={"lng": 200, "lat": 27.8}).json()["code"]
        == "invalid_request"
    )
    assert (
        client.get("/api/v1/reports/nearby", params={"lng": 114.9, "lat": 27.8, "radius": 0}).status_code
        == 422
    )
    unknown = client.get(
        "/api/v1/reports/duplicates", params={"lng": 114.9, "lat": 27.8, "category": "XX9999"}
    )
    assert unknown.json()["code"] == "unknown_category"
    assert client.get("/api/v1/reports/duplicates", params={"lng": 114.9, "lat": 27.8}).status_code == 422
