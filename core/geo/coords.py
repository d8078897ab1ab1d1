"""Coordinate systems, conversion and distance helpers (pure, no database).

Citizen apps in mainland China report positions in one of two systems:

* **WGS-84** -- raw GPS, what the platform stores everywhere.
* **GCJ-02** -- the obfuscated "Mars" datum mandated for published maps (AMap, Tencent
  maps, WeChat location picker).  It is WGS-84 plus a smooth, position-dependent offset of
  a few hundred metres computed on the Krasovsky 1940 ellipsoid.

Everything entering the platform is converted to WGS-84 with :func:`to_wgs84`.  The
forward transform is the well-known public formula; the inverse has no closed form, so
:func:`gcj02_to_wgs84` inverts it by fixed-point iteration until the round trip agrees
to far below a millimetre (the common one-step approximation is only good to 1-2 m).

Points outside the rough mainland-China bounding box used by the reference
implementation (:func:`out_of_china`) are not obfuscated and pass through unchanged.
"""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = [
    "EARTH_RADIUS_M",
    "CoordSystem",
    "gcj02_to_wgs84",
    "haversine_m",
    "out_of_china",
    "to_wgs84",
    "validate_lng_lat",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 transform.
_A = 6378245.0
_EE = 0.00669342162296594323
_PI = math.pi

#: Mean Earth radius (IUGG), used by :func:`haversine_m`.
EARTH_RADIUS_M = 6371008.8

# Inverse iteration: stop when the correction is below ~1e-12 degrees (~0.1 micrometre).
_INVERSE_TOLERANCE_DEG = 1e-12
_INVERSE_MAX_ITERATIONS = 30


class CoordSystem(StrEnum):
    """Coordinate reference system of an incoming lng/lat pair."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"


def validate_lng_lat(lng: float, lat: float) -> None:
    """Raise :class:`ValueError` unless ``lng``/``lat`` are finite and in range.

    Longitude must lie in [-180, 180] and latitude in [-90, 90] (inclusive).
    """
    if not (math.isfinite(lng) and math.isfinite(lat)):
        raise ValueError(f"coordinates must be finite numbers, got lng={lng!r}, lat={lat!r}")
    if not -180.0 <= lng <= 180.0:
        raise ValueError(f"longitude {lng!r} out of range [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat!r} out of range [-90, 90]")


def out_of_china(lng: float, lat: float) -> bool:
    """The standard coarse test: True if the point is outside the GCJ-02 box.

    The box (72.004..137.8347 E, 0.8293..55.8271 N) is the one used by every public
    implementation of the transform; points outside it are not obfuscated.
    """
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * _PI) + 20.0 * math.sin(2.0 * x * _PI)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * _PI) + 40.0 * math.sin(y / 3.0 * _PI)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * _PI) + 320.0 * math.sin(y * _PI / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * _PI) + 20.0 * math.sin(2.0 * x * _PI)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * _PI) + 40.0 * math.sin(x / 3.0 * _PI)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * _PI) + 300.0 * math.sin(x / 30.0 * _PI)) * 2.0 / 3.0
    return ret


def _gcj_offset(lng: float, lat: float) -> tuple[float, float]:
    """GCJ-02 offset (d_lng, d_lat) in degrees at WGS-84 point ``(lng, lat)``."""
    d_lat = _transform_lat(lng - 105.0, lat - 35.0)
    d_lng = _transform_lng(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * _PI
    magic = math.sin(rad_lat)
    magic = 1.0 - _EE * magic * magic
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * _PI)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * _PI)
    return d_lng, d_lat


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to GCJ-02 (identity outside mainland China)."""
    if out_of_china(lng, lat):
        return lng, lat
    d_lng, d_lat = _gcj_offset(lng, lat)
    return lng + d_lng, lat + d_lat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to WGS-84 (identity outside mainland China).

    Solves ``wgs84_to_gcj02(w) == g`` for ``w`` by fixed-point iteration
    ``w <- w - (forward(w) - g)``.  The offset varies by ~1e-5 of a degree per degree,
    so each step gains about five decimal digits; two or three iterations reach the
    1e-12 degree tolerance and the round trip is exact to well under 0.01 m.
    """
    if out_of_china(lng, lat):
        return lng, lat
    w_lng, w_lat = lng, lat
    for _ in range(_INVERSE_MAX_ITERATIONS):
        d_lng, d_lat = _gcj_offset(w_lng, w_lat)
        err_lng = w_lng + d_lng - lng
        err_lat = w_lat + d_lat - lat
        w_lng -= err_lng
        w_lat -= err_lat
        if abs(err_lng) < _INVERSE_TOLERANCE_DEG and abs(err_lat) < _INVERSE_TOLERANCE_DEG:
            break
    return w_lng, w_lat


def to_wgs84(lng: float, lat: float, system: CoordSystem) -> tuple[float, float]:
    """Validate ``lng``/``lat`` and convert them from ``system`` to WGS-84.

    Raises :class:`ValueError` for non-finite or out-of-range input (see
    :func:`validate_lng_lat`) or an unknown ``system``.
    """
    validate_lng_lat(lng, lat)
    system = CoordSystem(system)
    if system is CoordSystem.WGS84:
        return float(lng), float(lat)
    return gcj02_to_wgs84(float(lng), float(lat))


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres between two lng/lat points (spherical Earth)."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    h = math.sin(d_phi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
