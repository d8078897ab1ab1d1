"""In-memory nearest-point index (pure, no database).

Points (WGS-84 lng/lat, each with an integer key) are bucketed into a uniform grid of cells sized so
that a cell holds a few points on average. A query walks rings of cells outwards from the query's
cell, keeps the best ``limit`` accepted points by great-circle distance (``haversine_m``, ties by key)
and stops as soon as no unseen point can be nearer: every point outside the box of rings ≤ ``r`` lies
beyond one of the box's sides, which bounds its great-circle distance from below (``_bound_m``). A
filter (``accept``) is applied to candidates, so the walk simply continues until ``limit`` points pass
it (or the distance limit, or the data, is exhausted). Results equal a brute-force scan (see ``brute_force``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence

from core.geo.coords import EARTH_RADIUS_M, haversine_m

TARGET_PER_CELL = 2
MIN_CELL_M = 1.0
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0

Point = tuple[int, float, float]  # (key, lng, lat)
Accept = Callable[[int], bool]


class NearestIndex:
    """Immutable after :meth:`build`; safe to share between threads."""

    __slots__ = ("_cells", "_clat", "_clng", "_cos_min", "_lat0", "_lng0", "_nx", "_ny", "size")

    def __init__(self) -> None:
        # Per cell: (key, lng, lat, radians(lat), cos(radians(lat))) of its points.
        self._cells: dict[int, list[tuple[int, float, float, float, float]]] = {}
        self._lng0 = self._lat0 = 0.0
        self._clng = self._clat = 1.0
        self._nx = self._ny = 0
        self._cos_min = 1.0
        self.size = 0

    @classmethod
    def build(cls, points: Sequence[Point], *, per_cell: int = TARGET_PER_CELL) -> NearestIndex:
        index = cls()
        index.size = len(points)
        if not points:
            return index
        lngs = [p[1] for p in points]
        lats = [p[2] for p in points]
        lng0, lng1, lat0, lat1 = min(lngs), max(lngs), min(lats), max(lats)
        cos_mid = max(math.cos(math.radians((lat0 + lat1) / 2.0)), 1e-6)
        width_m = max((lng1 - lng0) * _M_PER_DEG * cos_mid, MIN_CELL_M)
        height_m = max((lat1 - lat0) * _M_PER_DEG, MIN_CELL_M)
        cell_m = max(math.sqrt(width_m * height_m * per_cell / len(points)), MIN_CELL_M)
        index._lng0, index._lat0 = lng0, lat0
        index._clat = cell_m / _M_PER_DEG
        index._clng = cell_m / (_M_PER_DEG * cos_mid)
        index._nx = int((lng1 - lng0) / index._clng) + 1
        index._ny = int((lat1 - lat0) / index._clat) + 1
        index._cos_min = math.cos(math.radians(max(abs(lat0), abs(lat1))))
        cells = index._cells
        for key, lng, lat in points:
            i = min(int((lng - lng0) / index._clng), index._nx - 1)
            j = min(int((lat - lat0) / index._clat), index._ny - 1)
            phi = math.radians(lat)
            cells.setdefault(j * index._nx + i, []).append((key, lng, lat, phi, math.cos(phi)))
        return index

    def __len__(self) -> int:
        return self.size

    def _bound_m(self, ci: int, cj: int, r: int, lng: float, lat: float, cos_q: float) -> float:
        """Lower bound of the great-circle distance from the query to any point outside the box of
        cells within ``r`` of (ci, cj). Sides of the box at or beyond the data's edge hold no point.

        North-south: d ≥ R·|Δφ|. East-west: haversine h ≥ cosφ1·cosφ2·sin²(Δλ/2), so
        d ≥ 2R·asin(c·sin(Δλ/2)) with c the smaller cosine of the query's and the data's extreme latitude.
        """
        bound = math.inf
        if cj - r > 0:
            bound = min(bound, (lat - (self._lat0 + (cj - r) * self._clat)) * _M_PER_DEG)
        if cj + r < self._ny - 1:
            bound = min(bound, (self._lat0 + (cj + r + 1) * self._clat - lat) * _M_PER_DEG)
        c = min(cos_q, self._cos_min)
        if ci - r > 0:
            gap = math.radians(lng - (self._lng0 + (ci - r) * self._clng))
            bound = min(bound, 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, c * math.sin(gap / 2.0))))
        if ci + r < self._nx - 1:
            gap = math.radians(self._lng0 + (ci + r + 1) * self._clng - lng)
            bound = min(bound, 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, c * math.sin(gap / 2.0))))
        return max(bound, 0.0)

    def nearest(
        self,
        lng: float,
        lat: float,
        limit: int,
        *,
        accept: Accept | None = None,
        max_distance_m: float | None = None,
    ) -> list[tuple[float, int]]:
        """Up to ``limit`` (distance in metres, key) pairs, nearest first, accepted by ``accept``."""
        if limit <= 0 or self.size == 0:
            return []
        nx, ny, cells = self._nx, self._ny, self._cells
        ci = math.floor((lng - self._lng0) / self._clng)
        cj = math.floor((lat - self._lat0) / self._clat)
        # Chebyshev distance from the query cell to the grid, and to its farthest corner.
        first = max(0, -ci, ci - (nx - 1), -cj, cj - (ny - 1))
        last = max(abs(ci), abs(ci - (nx - 1)), abs(cj), abs(cj - (ny - 1)))
        heap: list[tuple[float, int]] = []  # max-heap of the best: (-distance, -key)
        limit_m = math.inf if max_distance_m is None else max_distance_m
        # Same arithmetic as core.geo.coords.haversine_m, so distances are bit-identical to it.
        phi1 = math.radians(lat)
        cos1 = math.cos(phi1)
        sin, asin, sqrt = math.sin, math.asin, math.sqrt
        two_r = 2.0 * EARTH_RADIUS_M
        to_rad = math.pi / 180.0
        worst = math.inf  # distance of the current last of the best (inf until the heap is full)
        worst_key = 0
        lat0, lng0, clat, clng = self._lat0, self._lng0, self._clat, self._clng
        c_lng = min(cos1, self._cos_min)
        worst_rad = limit_m / EARTH_RADIUS_M * (1.0 + 1e-9)  # the same in radians of latitude
        for r in range(first, last + 1):
            if r > first and self._bound_m(ci, cj, r - 1, lng, lat, cos1) > min(limit_m, worst):
                break
            for i, j in self._ring(ci, cj, r):
                points = cells.get(j * nx + i)
                if points is None:
                    continue
                if worst_rad < math.inf and r > 1:
                    # Lower bound for the whole cell: d ≥ R·Δφ and d ≥ R·c·Δλ·(1 − Δλ²/24).
                    gap_lat = max(lat0 + j * clat - lat, lat - (lat0 + (j + 1) * clat), 0.0) * to_rad
                    gap_lng = max(lng0 + i * clng - lng, lng - (lng0 + (i + 1) * clng), 0.0) * to_rad
                    if gap_lat > worst_rad or c_lng * gap_lng * (1.0 - gap_lng * gap_lng / 24.0) > worst_rad:
                        continue
                for key, plng, _plat, phi2, cos2 in points:
                    d_phi = phi2 - phi1
                    if d_phi > worst_rad or -d_phi > worst_rad:  # d ≥ R·|Δφ|: cannot beat the worst
                        continue
                    h = sin(d_phi / 2.0) ** 2 + cos1 * cos2 * sin(((plng - lng) * to_rad) / 2.0) ** 2
                    d = two_r * asin(min(1.0, sqrt(h)))
                    if d > limit_m or d > worst or (d == worst and key > worst_key):
                        continue
                    if accept is not None and not accept(key):
                        continue
                    if len(heap) == limit:
                        heapq.heapreplace(heap, (-d, -key))
                    else:
                        heapq.heappush(heap, (-d, -key))
                    if len(heap) == limit:
                        worst, worst_key = -heap[0][0], -heap[0][1]
                        worst_rad = min(worst, limit_m) / EARTH_RADIUS_M * (1.0 + 1e-9)
        return sorted((-d, -k) for d, k in heap)

    def _ring(self, ci: int, cj: int, r: int) -> list[tuple[int, int]]:
        """The cells (i, j) at Chebyshev distance ``r`` from (ci, cj), inside the grid."""
        nx, ny = self._nx, self._ny
        if r == 0:
            return [(ci, cj)] if 0 <= ci < nx and 0 <= cj < ny else []
        out: list[tuple[int, int]] = []
        i_lo, i_hi = max(ci - r, 0), min(ci + r, nx - 1)
        for j in (cj - r, cj + r):
            if 0 <= j < ny:
                out.extend((i, j) for i in range(i_lo, i_hi + 1))
        j_lo, j_hi = max(cj - r + 1, 0), min(cj + r - 1, ny - 1)
        for i in (ci - r, ci + r):
            if 0 <= i < nx:
                out.extend((i, j) for j in range(j_lo, j_hi + 1))
        return out


def brute_force(
    points: Sequence[Point],
    lng: float,
    lat: float,
    limit: int,
    *,
    accept: Accept | None = None,
    max_distance_m: float | None = None,
) -> list[tuple[float, int]]:
    """The reference answer: every point's distance, sorted (used by tests and the benchmark)."""
    found = [
        (haversine_m(lng, lat, plng, plat), key)
        for key, plng, plat in points
        if accept is None or accept(key)
    ]
    if max_distance_m is not None:
        found = [item for item in found if item[0] <= max_distance_m]
    return sorted(found)[:limit]
