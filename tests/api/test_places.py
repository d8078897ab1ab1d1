"""GET /api/v1/places, GET /api/v1/places/{code}, PUT /api/v1/places/{code}/availability."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from core.geo.coords import wgs84_to_gcj02
from core.kit.clock import utcnow
from core.models.places import Place, PlaceKind
from core.places import service
from core.settings import get_settings
from tests.core.places.helpers import CENTRE, add_place

URL = "/api/v1/places"


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    """The API (its places router included by api.main)."""
    service.invalidate_cache()
    app = create_app(get_settings())

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    service.invalidate_cache()


@pytest.fixture
def lot(session: Session) -> tuple[Place, str, str]:
    operator, key = service.create_operator(session, name="停车运营甲")
    _, other_key = service.create_operator(session, name="停车运营乙")
    place = add_place(
        session, "TC0001", *CENTRE, kind=PlaceKind.PARKING, capacity=80, operator_id=operator.id
    )
    return place, key, other_key


def test_nearest_toilets(client: TestClient, session: Session) -> None:
    add_place(session, "GC0002", CENTRE[0] + 0.002, CENTRE[1], accessible=True, baby_room=True)
    add_place(session, "GC0001", CENTRE[0] + 0.001, CENTRE[1])
    add_place(session, "GC0003", CENTRE[0] + 0.003, CENTRE[1], open_hours="")
    add_place(session, "TC0009", *CENTRE, kind=PlaceKind.PARKING)
    response = client.get(URL, params={"kind": "toilet", "lng": CENTRE[0], "lat": CENTRE[1]})
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["code"] for item in items] == ["GC0001", "GC0002", "GC0003"]
    assert 90 < items[0]["distance_m"] < 110
    assert items[0]["open_now"] is True
    assert items[2]["open_now"] is None
    assert items[1]["baby_room"] is True
    assert items[0]["kind_label"] == "公厕"

    accessible = client.get(
        URL, params={"kind": "toilet", "lng": CENTRE[0], "lat": CENTRE[1], "accessible": "true"}
    )
    assert [item["code"] for item in accessible.json()["items"]] == ["GC0002"]
    open_now = client.get(
        URL, params={"kind": "toilet", "lng": CENTRE[0], "lat": CENTRE[1], "open_now": "true"}
    )
    assert [item["code"] for item in open_now.json()["items"]] == ["GC0001", "GC0002"]
    one = client.get(URL, params={"kind": "toilet", "lng": CENTRE[0], "lat": CENTRE[1], "limit": 1})
    assert len(one.json()["items"]) == 1


def test_gcj02(client: TestClient, session: Session) -> None:
    add_place(session, "GC0001", 114.9216, 27.8156)
    lng, lat = wgs84_to_gcj02(114.9216, 27.8156)
    response = client.get(URL, params={"kind": "toilet", "lng": lng, "lat": lat, "coord": "gcj02"})
    item = response.json()["items"][0]
    assert item["distance_m"] < 1.0
    assert item["lng"] == pytest.approx(114.9216)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "toilet", "lng": 181, "lat": 27.8}, "lng"),
        ({"kind": "toilet", "lng": 114.9, "lat": -91}, "lat"),
        ({"kind": "toilet", "lng": "nan", "lat": 27.8}, "lng"),
        ({"kind": "toilet", "lng": 114.9, "lat": 27.8, "limit": 0}, "limit"),
        ({"kind": "toilet", "lng": 114.9, "lat": 27.8, "limit": 1000}, "limit"),
        ({"kind": "bench", "lng": 114.9, "lat": 27.8}, "kind"),
        ({"lng": 114.9, "lat": 27.8}, "kind"),
        ({"kind": "toilet", "lng": 114.9, "lat": 27.8, "coord": "bd09"}, "coord"),
    ],
)
def test_bad_query(client: TestClient, params: dict[str, object], field: str) -> None:
    response = client.get(URL, params=params)  # type: ignore[arg-type]
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert field in str(body)


def test_get_place(client: TestClient, lot: tuple[Place, str, str]) -> None:
    response = client.get(f"{URL}/TC0001", params={"lng": CENTRE[0], "lat": CENTRE[1]})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "parking"
    assert body["capacity"] == 80
    assert body["available_spaces"] is None
    assert body["distance_m"] == 0.0
    missing = client.get(f"{URL}/NOPE")
    assert missing.status_code == 404
    assert missing.json()["code"] == "place_not_found"


def test_operator_push(client: TestClient, session: Session, lot: tuple[Place, str, str]) -> None:
    _place, key, other_key = lot
    url = f"{URL}/TC0001/availability"
    good = client.put(url, json={"available_spaces": 12}, headers={"X-Api-Key": key})
    assert good.status_code == 200
    assert good.json()["available_spaces"] == 12
    assert client.get(f"{URL}/TC0001").json()["available_spaces"] == 12
    listed = client.get(URL, params={"kind": "parking", "lng": CENTRE[0], "lat": CENTRE[1]}).json()["items"]
    assert listed[0]["available_spaces"] == 12

    for headers in ({}, {"X-Api-Key": "wrong"}):
        bad = client.put(url, json={"available_spaces": 1}, headers=headers)
        assert bad.status_code == 401
        assert bad.json()["code"] == "invalid_api_key"
    other = client.put(url, json={"available_spaces": 1}, headers={"X-Api-Key": other_key})
    assert other.status_code == 403
    for spaces in (-1, 81):
        invalid = client.put(url, json={"available_spaces": spaces}, headers={"X-Api-Key": key})
        assert invalid.status_code == 422
    missing = client.put(f"{URL}/NOPE/availability", json={"available_spaces": 1}, headers={"X-Api-Key": key})
    assert missing.status_code == 404


def test_stale_availability_is_unknown(
    client: TestClient, session: Session, lot: tuple[Place, str, str]
) -> None:
    place = lot[0]
    stale_s = get_settings().places.availability_stale_s
    place.available_spaces = 30
    place.availability_updated_at = utcnow() - timedelta(seconds=stale_s + 60)
    session.add(place)
    session.flush()
    body = client.get(f"{URL}/TC0001").json()
    assert body["available_spaces"] is None
    assert body["availability_updated_at"] is None

    place.availability_updated_at = utcnow() - timedelta(seconds=stale_s - 60)
    session.add(place)
    session.flush()
    assert client.get(f"{URL}/TC0001").json()["available_spaces"] == 30
