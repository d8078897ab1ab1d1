"""Geometry of the demo city: the service area, the street/community partition and the unit-grid lattice.

Everything the generator writes is WGS-84 longitude/latitude. Partitions are computed in local metres
(an equirectangular projection around the city centre, good enough for ~15 km) and the lattice is laid
out in degrees so that neighbouring cells share exactly the same edge coordinates.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

# The centre of 新余 (around 仙来广场 / 市政府).
LNG0 = 114.917
LAT0 = 27.818
M_PER_DEG_LAT = 111_320.0
M_PER_DEG_LNG = 111_320.0 * math.cos(math.radians(LAT0))

CELL_M = 100.0
DLAT = CELL_M / M_PER_DEG_LAT
DLNG = CELL_M / M_PER_DEG_LNG

COORD_DECIMALS = 7
GRID_SIZE = 10.0**-COORD_DECIMALS
TARGET_AREA_KM2 = 78.0

# Hand-drawn outline of the built-up area, kilometres (east, north) from the centre, counter-clockwise.
# Elongated east-west along the 袁河; scaled below so that its area is exactly TARGET_AREA_KM2.
_OUTLINE_KM: list[tuple[float, float]] = [
    (7.2, -0.4),
    (7.0, 0.8),
    (6.3, 1.5),
    (5.6, 1.9),
    (4.8, 2.6),
    (4.0, 2.9),
    (3.1, 3.6),
    (2.2, 3.9),
    (1.2, 4.3),
    (0.3, 4.1),
    (-0.6, 4.5),
    (-1.5, 4.0),
    (-2.4, 3.7),
    (-3.2, 3.1),
    (-4.1, 2.9),
    (-5.0, 2.6),
    (-5.9, 2.1),
    (-6.6, 1.4),
    (-7.1, 0.6),
    (-7.3, -0.3),
    (-6.8, -1.1),
    (-6.0, -1.6),
    (-5.1, -2.0),
    (-4.2, -2.6),
    (-3.3, -3.3),
    (-2.3, -3.6),
    (-1.3, -3.4),
    (-0.4, -3.9),
    (0.6, -3.7),
    (1.5, -3.2),
    (2.5, -3.0),
    (3.4, -2.6),
    (4.3, -2.4),
    (5.2, -2.0),
    (6.1, -1.6),
    (6.8, -1.1),
]


_ORIGIN: NDArray[np.float64] = np.array([LNG0, LAT0], dtype=np.float64)
_SCALE: NDArray[np.float64] = np.array([M_PER_DEG_LNG, M_PER_DEG_LAT], dtype=np.float64)


def _metres_from_degrees(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    metres: NDArray[np.float64] = (coords - _ORIGIN) * _SCALE
    return metres


def _degrees_from_metres(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    degrees: NDArray[np.float64] = coords / _SCALE + _ORIGIN
    return degrees


def to_metres(geometry: BaseGeometry) -> BaseGeometry:
    """WGS-84 degrees → local metres east/north of the centre."""
    return shapely.transform(geometry, _metres_from_degrees)


def area_km2(geometry: BaseGeometry) -> float:
    """Area of a WGS-84 geometry in km², by the local equal-area approximation."""
    return float(to_metres(geometry).area) / 1e6


def _service_area() -> Polygon:
    outline_m = Polygon([(x * 1000.0, y * 1000.0) for x, y in _OUTLINE_KM])
    scale = math.sqrt(TARGET_AREA_KM2 * 1e6 / outline_m.area)
    scaled = Polygon([(x * scale, y * scale) for x, y in outline_m.exterior.coords])
    degrees = shapely.transform(scaled, _degrees_from_metres)
    rounded = Polygon(
        [(round(x, COORD_DECIMALS), round(y, COORD_DECIMALS)) for x, y in degrees.exterior.coords]
    )
    assert rounded.is_valid
    return orient(rounded, sign=1.0)


SERVICE_AREA: Polygon = _service_area()
SERVICE_AREA_M: Polygon = shapely.transform(SERVICE_AREA, _metres_from_degrees)


def random_point_in(region: BaseGeometry, rng: random.Random) -> Point:
    """A uniformly random point of a region (rejection sampling over its bounding box)."""
    minx, miny, maxx, maxy = region.bounds
    while True:
        point = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if region.contains(point):
            return point


def voronoi_regions(sites: list[Point], region: BaseGeometry) -> list[BaseGeometry]:
    """The Voronoi cell of each site (same order as the sites), clipped to the region."""
    minx, miny, maxx, maxy = region.bounds
    envelope = shapely.box(minx - 1000, miny - 1000, maxx + 1000, maxy + 1000)
    cells = list(shapely.voronoi_polygons(MultiPoint(sites), extend_to=envelope).geoms)
    ordered: list[BaseGeometry] = []
    for site in sites:
        cell = next(cell for cell in cells if cell.contains(site))
        ordered.append(shapely.intersection(cell, region))
    return ordered


def relaxed_sites(region: BaseGeometry, count: int, rng: random.Random, iterations: int = 5) -> list[Point]:
    """Seeded random sites in a region, moved a few Lloyd steps towards their cells' centroids."""
    sites = [random_point_in(region, rng) for _ in range(count)]
    for _ in range(iterations):
        moved: list[Point] = []
        for cell in voronoi_regions(sites, region):
            centroid = cell.centroid
            moved.append(centroid if region.contains(centroid) else cell.point_on_surface())
        sites = moved
    return sites


@dataclass(frozen=True)
class LatticePiece:
    """One unit-grid polygon: a lattice cell (row i, column j) clipped to the service area."""

    row: int
    col: int
    part: int
    polygon: Polygon


def lattice_pieces(area: Polygon) -> list[LatticePiece]:
    """Lattice cells of DLNG × DLAT degrees clipped to the area, snapped to 1e-7°, as polygons."""
    minx, miny, maxx, maxy = area.bounds
    col0, col1 = math.floor((minx - LNG0) / DLNG), math.ceil((maxx - LNG0) / DLNG)
    row0, row1 = math.floor((miny - LAT0) / DLAT), math.ceil((maxy - LAT0) / DLAT)
    xs = LNG0 + np.arange(col0, col1 + 1) * DLNG
    ys = LAT0 + np.arange(row0, row1 + 1) * DLAT
    row_grid, col_grid = np.meshgrid(np.arange(row1 - row0), np.arange(col1 - col0), indexing="ij")
    rows, cols = row_grid.ravel(), col_grid.ravel()
    boxes = shapely.box(xs[cols], ys[rows], xs[cols + 1], ys[rows + 1])
    shapely.prepare(area)
    keep = shapely.intersects(area, boxes)
    clipped = shapely.intersection(boxes[keep], area, grid_size=GRID_SIZE)
    min_area = (DLNG * DLAT) * 1e-4  # drop slivers under ~1 m²
    pieces: list[LatticePiece] = []
    for row, col, geometry in zip(rows[keep], cols[keep], clipped, strict=True):
        parts = [
            part
            for part in shapely.get_parts(geometry)
            if isinstance(part, Polygon) and part.area > min_area and part.is_valid
        ]
        parts.sort(key=lambda polygon: (-polygon.centroid.y, polygon.centroid.x))
        for index, part in enumerate(parts):
            pieces.append(LatticePiece(int(row + row0), int(col + col0), index, orient(part, sign=1.0)))
    return pieces
