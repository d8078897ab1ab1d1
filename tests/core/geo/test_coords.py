import math
import random

import pytest

from core.geo.coords import (
    CoordSystem,
    gcj02_to_wgs84,
    haversine_m,
    out_of_china,
    to_wgs84,
    validate_lng_lat,
    wgs84_to_gcj02,
)

# Tiananmen: a widely published WGS-84 / GCJ-02 reference pair.
WGS_TIANANMEN = (116.397128, 39.916527)
GCJ_TIANANMEN = (116.40337249, 39.91793075)


def test_forward_reference_pair() -> None:
    lng, lat = wgs84_to_gcj02(*WGS_TIANANMEN)
    assert lng == pytest.approx(GCJ_TIANANMEN[0], abs=1e-7)
    assert lat == pytest.approx(GCJ_TIANANMEN[1], abs=1e-7)
    # The obfuscation offset is a few hundred metres, mostly eastward here.
    offset = haversine_m(*WGS_TIANANMEN, lng, lat)
    assert 500 < offset < 600


def test_inverse_reference_pair() -> None:
    lng, lat = gcj02_to_wgs84(*GCJ_TIANANMEN)
    assert haversine_m(lng, lat, *WGS_TIANANMEN) < 0.01


def test_offset_in_demo_city() -> None:
    # Xinyu, Jiangxi (the demo city): offset magnitude is also a few hundred metres.
    wgs = (114.917, 27.818)
    gcj = wgs84_to_gcj02(*wgs)
    assert 100 < haversine_m(*wgs, *gcj) < 1000


def test_round_trip_random_points_in_china() -> None:
    rng = random.Random(20261121)
    worst = 0.0
    for _ in range(5000):
        lng = rng.uniform(73.6, 134.7)
        lat = rng.uniform(18.2, 53.5)
        g_lng, g_lat = wgs84_to_gcj02(lng, lat)
        assert not out_of_china(g_lng, g_lat)
        w_lng, w_lat = gcj02_to_wgs84(g_lng, g_lat)
        worst = max(worst, haversine_m(lng, lat, w_lng, w_lat))
        # ...and the other direction: treat the random point as a GCJ-02 input.
        back = wgs84_to_gcj02(*gcj02_to_wgs84(lng, lat))
        worst = max(worst, haversine_m(lng, lat, *back))
    assert worst < 0.01


@pytest.mark.parametrize(
    "point",
    [
        (2.3522, 48.8566),  # Paris
        (-74.006, 40.7128),  # New York
        (139.6917, 35.6895),  # Tokyo (east of the box)
        (100.0, 0.5),  # south of the box
        (100.0, 56.0),  # north of the box
        (70.0, 40.0),  # west of the box
    ],
)
def test_out_of_china_passthrough(point: tuple[float, float]) -> None:
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    assert to_wgs84(*point, CoordSystem.GCJ02) == point


def test_to_wgs84_dispatch() -> None:
    assert to_wgs84(*WGS_TIANANMEN, CoordSystem.WGS84) == WGS_TIANANMEN
    lng, lat = to_wgs84(*GCJ_TIANANMEN, CoordSystem.GCJ02)
    assert haversine_m(lng, lat, *WGS_TIANANMEN) < 0.01
    # Plain strings are accepted (StrEnum values, e.g. straight from a request body).
    assert to_wgs84(*GCJ_TIANANMEN, "gcj02") == (lng, lat)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bd09"):
        to_wgs84(*GCJ_TIANANMEN, "bd09")  # type: ignore[arg-type]


def test_coord_system_values() -> None:
    assert CoordSystem("wgs84") is CoordSystem.WGS84
    assert CoordSystem.GCJ02 == "gcj02"


@pytest.mark.parametrize(
    ("lng", "lat"),
    [
        (math.nan, 30.0),
        (114.0, math.nan),
        (math.inf, 30.0),
        (114.0, -math.inf),
        (180.0001, 30.0),
        (-180.0001, 30.0),
        (114.0, 90.0001),
        (114.0, -90.0001),
    ],
)
def test_validation_errors(lng: float, lat: float) -> None:
    with pytest.raises(ValueError, match=r"finite|range"):
        validate_lng_lat(lng, lat)
    with pytest.raises(ValueError, match=r"finite|range"):
        to_wgs84(lng, lat, CoordSystem.WGS84)


@pytest.mark.parametrize(("lng", "lat"), [(180.0, 90.0), (-180.0, -90.0), (0.0, 0.0), (114.917, 27.818)])
def test_validation_accepts_range_limits(lng: float, lat: float) -> None:
    validate_lng_lat(lng, lat)


def test_haversine() -> None:
    assert haversine_m(114.9, 27.8, 114.9, 27.8) == 0.0
    # One degree of latitude is ~111.2 km on the mean sphere.
    assert haversine_m(114.9, 27.0, 114.9, 28.0) == pytest.approx(111_195, rel=1e-4)
    # Symmetric; antipodes give half the circumference.
    assert haversine_m(1.0, 2.0, 3.0, 4.0) == haversine_m(3.0, 4.0, 1.0, 2.0)
    assert haversine_m(0.0, 0.0, 180.0, 0.0) == pytest.approx(math.pi * 6_371_008.8)
