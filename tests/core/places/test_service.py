"""The places service against the database: nearest equals brute force, filters, gcj02, availability."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from core.errors import ErrorKind
from core.geo.coords import CoordSystem, haversine_m, wgs84_to_gcj02
from core.models.places import PlaceKind
from core.places import service
from core.places.errors import InvalidApiKey, InvalidAvailability, NotYourPlace, PlaceNotFound
from core.places.hours import open_now
from tests.core.places.helpers import CENTRE, add_place

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
STALE_S = 900
HOURS = ["00:00-24:00", "06:00-22:00", "20:00-06:00", "06:00-12:00,14:00-22:00", ""]


@pytest.fixture
def random_places(session: Session) -> list[dict[str, object]]:
    rng = random.Random(20261121)
    rows = []
    for n in range(300):
        kind = PlaceKind.TOILET if n % 3 else PlaceKind.PARKING
        values = {
            "code": f"R{n:04d}",
            "kind": kind,
            "lng": CENTRE[0] + rng.uniform(-0.05, 0.05),
            "lat": CENTRE[1] + rng.uniform(-0.05, 0.05),
            "open_hours": rng.choice(HOURS),
            "accessible": rng.random() < 0.3,
            "active": rng.random() < 0.95,
        }
        add_place(session, **values)  # type: ignore[arg-type]
        rows.append(values)
    return rows


def brute(
    rows: list[dict[str, object]], kind: PlaceKind, lng: float, lat: float, limit: int, **f: object
) -> list:
    found = []
    for row in rows:
        if row["kind"] is not kind or not row["active"]:
            continue
        if f.get("accessible") is not None and row["accessible"] != f["accessible"]:
            continue
        if f.get("open_now") is not None and (open_now(str(row["open_hours"]), NOW) is True) != f["open_now"]:
            continue
        distance = haversine_m(lng, lat, float(row["lng"]), float(row["lat"]))  # type: ignore[arg-type]
        max_distance = f.get("max_distance_m")
        if max_distance is not None and distance > max_distance:  # type: ignore[operator]
            continue
        found.append((distance, row["code"]))
    return [code for _, code in sorted(found)[:limit]]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"open_now": True},
        {"accessible": True},
        {"open_now": True, "accessible": True},
        {"max_distance_m": 1500.0},
    ],
)
def test_nearest_equals_brute_force(
    session: Session, random_places: list[dict[str, object]], filters: dict[str, object]
) -> None:
    rng = random.Random(5)
    for _ in range(30):
        kind = rng.choice(list(PlaceKind))
        lng = CENTRE[0] + rng.uniform(-0.06, 0.06)
        lat = CENTRE[1] + rng.uniform(-0.06, 0.06)
        limit = rng.choice((1, 10, 50))
        got = service.nearest(
            session,
            kind=kind,
            lng=lng,
            lat=lat,
            limit=limit,
            now=NOW,
            stale_after_s=STALE_S,
            **filters,  # type: ignore[arg-type]
        )
        assert [place.code for place in got] == brute(random_places, kind, lng, lat, limit, **filters)
        distances = [place.distance_m for place in got]
        assert distances == sorted(distances)  # type: ignore[type-var]
        if filters.get("open_now"):
            assert all(place.open_now for place in got)
        if filters.get("accessible"):
            assert all(place.accessible for place in got)


def test_gcj02_input(session: Session) -> None:
    add_place(session, "NEAR", 114.9216, 27.8156)
    add_place(session, "FAR", 114.9300, 27.8156)
    gcj = wgs84_to_gcj02(114.9216, 27.8156)
    got = service.nearest(
        session,
        kind=PlaceKind.TOILET,
        lng=gcj[0],
        lat=gcj[1],
        coord=CoordSystem.GCJ02,
        now=NOW,
        stale_after_s=STALE_S,
    )
    assert got[0].code == "NEAR"
    assert got[0].distance_m is not None
    assert got[0].distance_m < 1.0
    assert got[0].lng == pytest.approx(114.9216)
    # The same point taken as WGS-84 is several hundred metres off.
    wrong = service.nearest(
        session, kind=PlaceKind.TOILET, lng=gcj[0], lat=gcj[1], now=NOW, stale_after_s=STALE_S
    )
    assert wrong[0].distance_m is not None
    assert wrong[0].distance_m > 100


def test_new_place_visible_after_invalidation(session: Session) -> None:
    add_place(session, "A1", *CENTRE)
    assert [
        p.code
        for p in service.nearest(
            session, kind=PlaceKind.TOILET, lng=CENTRE[0], lat=CENTRE[1], now=NOW, stale_after_s=STALE_S
        )
    ] == ["A1"]
    add_place(session, "A2", CENTRE[0] + 0.001, CENTRE[1])
    service.invalidate_cache()
    got = service.nearest(
        session, kind=PlaceKind.TOILET, lng=CENTRE[0], lat=CENTRE[1], now=NOW, stale_after_s=STALE_S
    )
    assert [p.code for p in got] == ["A1", "A2"]


def test_get_place(session: Session) -> None:
    add_place(
        session,
        "P1",
        *CENTRE,
        kind=PlaceKind.PARKING,
        capacity=100,
        attributes='{"限高米": 2.2}',
        ev_charging=True,
    )
    place = service.get_place(session, code="P1", now=NOW, stale_after_s=STALE_S)
    assert place.attributes == {"限高米": 2.2}
    assert place.ev_charging is True
    assert place.open_now is True
    assert place.available_spaces is None
    with pytest.raises(PlaceNotFound) as caught:
        service.get_place(session, code="NOPE", now=NOW, stale_after_s=STALE_S)
    assert caught.value.kind is ErrorKind.NOT_FOUND


def test_push_availability(session: Session) -> None:
    operator, key = service.create_operator(session, name="停车运营甲")
    _other, other_key = service.create_operator(session, name="停车运营乙")
    assert operator.api_key_hash == service.hash_api_key(key)
    assert key not in operator.api_key_hash
    add_place(session, "P1", *CENTRE, kind=PlaceKind.PARKING, capacity=100, operator_id=operator.id)

    out = service.push_availability(
        session, code="P1", api_key=key, available_spaces=42, now=NOW, stale_after_s=STALE_S
    )
    assert out.available_spaces == 42
    assert out.availability_updated_at == "2026-11-21T23:00:00+08:00"

    for bad_key in (None, "", "wrong"):
        with pytest.raises(InvalidApiKey):
            service.push_availability(
                session, code="P1", api_key=bad_key, available_spaces=1, now=NOW, stale_after_s=STALE_S
            )
    with pytest.raises(NotYourPlace):
        service.push_availability(
            session, code="P1", api_key=other_key, available_spaces=1, now=NOW, stale_after_s=STALE_S
        )
    for spaces in (-1, 101):
        with pytest.raises(InvalidAvailability):
            service.push_availability(
                session, code="P1", api_key=key, available_spaces=spaces, now=NOW, stale_after_s=STALE_S
            )

    fresh = service.get_place(session, code="P1", now=NOW + timedelta(seconds=STALE_S), stale_after_s=STALE_S)
    assert fresh.available_spaces == 42
    stale = service.get_place(
        session, code="P1", now=NOW + timedelta(seconds=STALE_S + 1), stale_after_s=STALE_S
    )
    assert stale.available_spaces is None
    assert stale.availability_updated_at is None
