"""Small measurements on WGS-84 geometries, good enough for ~100 m cells (local equirectangular)."""

from __future__ import annotations

import math

from shapely import MultiPolygon, Polygon
from shapely.affinity import scale

METRES_PER_DEGREE_LAT = 111_320.0


def approx_area_m2(geometry: Polygon | MultiPolygon) -> float:
    """Area in square metres, scaling longitude by cos(latitude) at the geometry's centre."""
    lat = geometry.centroid.y
    factor = METRES_PER_DEGREE_LAT * math.cos(math.radians(lat))
    return float(scale(geometry, xfact=factor, yfact=METRES_PER_DEGREE_LAT, origin=(0, 0)).area)
