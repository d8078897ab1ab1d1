"""Deterministic generator of the demo city's geographic master data (新余市渝水区).

Pure: writes four files into a folder and touches no database. The same seed gives byte-identical files.

    areas.csv                  code,name,level,parent_code (district → streets → communities)
    responsibility_grids.csv   code,name,community_code
    unit_grids.geojson         FeatureCollection of ~100 m × 100 m unit grids
    places.csv                 public toilets and parking lots

Run: .venv/bin/python -c "from core.demo.generate import generate; from pathlib import Path; \
print(generate(Path('var/demo')))"
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from core.demo import names
from core.demo.geometry import (
    COORD_DECIMALS,
    LAT0,
    LNG0,
    M_PER_DEG_LAT,
    M_PER_DEG_LNG,
    SERVICE_AREA,
    SERVICE_AREA_M,
    LatticePiece,
    area_km2,
    lattice_pieces,
    relaxed_sites,
    voronoi_regions,
)
from core.demo.places import generate_places
from core.masterdata.importers.places import COLUMNS as PLACE_COLUMNS

__all__ = ["SERVICE_AREA", "STREETS", "DemoFiles", "area_km2", "generate"]

STREETS: list[tuple[str, str]] = names.STREETS

DEFAULT_SEED = 20261121
STREET_JITTER_M = 300.0
GRIDS_PER_COMMUNITY = 170  # target size: a street gets about (its grids ÷ this) communities
MIN_COMMUNITIES, MAX_COMMUNITIES = 4, 10
MAX_GRIDS_PER_COMMUNITY = 999  # 3-digit sequence in the unit grid code
MAX_RESPONSIBILITY_GRIDS = 99  # 2-digit sequence in the responsibility grid code
BLOCK = 4  # responsibility grids start as BLOCK × BLOCK lattice blocks
MIN_RESPONSIBILITY_SIZE = 9  # smaller leftover blocks are merged into a neighbour


@dataclass(frozen=True)
class DemoFiles:
    areas: Path  # areas.csv
    responsibility_grids: Path  # responsibility_grids.csv
    unit_grids: Path  # unit_grids.geojson
    places: Path  # places.csv


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    street_code: str
    street_name: str
    region_m: BaseGeometry


@dataclass(frozen=True)
class UnitGrid:
    code: str
    community_code: str
    responsibility_grid_code: str
    polygon: Polygon


@dataclass(frozen=True)
class ResponsibilityGrid:
    code: str
    name: str
    community_code: str


def _streets(rng: random.Random) -> list[tuple[str, str, BaseGeometry]]:
    sites = [
        Point(
            east * 1000.0 + rng.uniform(-STREET_JITTER_M, STREET_JITTER_M),
            north * 1000.0 + rng.uniform(-STREET_JITTER_M, STREET_JITTER_M),
        )
        for east, north in (names.STREET_ANCHORS_KM[code] for code, _ in STREETS)
    ]
    regions = voronoi_regions(sites, SERVICE_AREA_M)
    return [(code, name, region) for (code, name), region in zip(STREETS, regions, strict=True)]


def _communities(rng: random.Random) -> list[Community]:
    communities: list[Community] = []
    cell_area_m2 = 100.0 * 100.0
    for street_code, street_name, street_region in _streets(rng):
        expected = street_region.area / cell_area_m2 / GRIDS_PER_COMMUNITY
        count = max(MIN_COMMUNITIES, min(MAX_COMMUNITIES, round(expected)))
        sites = relaxed_sites(street_region, count, rng)
        regions = voronoi_regions(sites, street_region)
        # Number communities north-west first.
        ordered = sorted(
            zip(sites, regions, strict=True), key=lambda pair: (-round(pair[0].y, -2), pair[0].x)
        )
        for index, (_, region) in enumerate(ordered, start=1):
            communities.append(
                Community(
                    code=f"{street_code}{index:03d}",
                    name=names.COMMUNITY_NAMES[street_code][index - 1],
                    street_code=street_code,
                    street_name=street_name,
                    region_m=region,
                )
            )
    return communities


def _to_metres_point(point: Point) -> Point:
    return Point((point.x - LNG0) * M_PER_DEG_LNG, (point.y - LAT0) * M_PER_DEG_LAT)


def _assign(pieces: list[LatticePiece], communities: list[Community]) -> list[int]:
    """Index of the community holding each piece's centroid (or its point on surface, for a concave piece)."""
    tree = shapely.STRtree([community.region_m for community in communities])
    owners: list[int] = []
    for piece in pieces:
        owner = -1
        for probe in (piece.polygon.centroid, piece.polygon.point_on_surface()):
            hits = tree.query(_to_metres_point(probe), predicate="intersects")
            if len(hits):
                owner = int(min(hits))
                break
        assert owner >= 0, f"unit grid cell ({piece.row}, {piece.col}) lies in no community"
        owners.append(owner)
    return owners


def _responsibility_blocks(pieces: list[LatticePiece]) -> dict[tuple[int, int], tuple[int, int]]:
    """Lattice cell → block label: BLOCK × BLOCK blocks, small leftovers merged into an adjacent block."""
    label = {(piece.row, piece.col): (piece.row // BLOCK, piece.col // BLOCK) for piece in pieces}
    while True:
        members: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for cell, block in label.items():
            members[block].append(cell)
        merged = False
        for block in sorted(members, key=lambda key: (len(members[key]), key)):
            if len(members[block]) >= MIN_RESPONSIBILITY_SIZE:
                break
            neighbours = {
                label[(row + dr, col + dc)]
                for row, col in members[block]
                for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if (row + dr, col + dc) in label and label[(row + dr, col + dc)] != block
            }
            if neighbours:
                target = min(neighbours, key=lambda key: (len(members[key]), key))
                for cell in members[block]:
                    label[cell] = target
                merged = True
                break
        if not merged:
            return label


def _grids(
    pieces: list[LatticePiece], communities: list[Community]
) -> tuple[list[UnitGrid], list[ResponsibilityGrid]]:
    by_community: dict[int, list[LatticePiece]] = defaultdict(list)
    for piece, owner in zip(pieces, _assign(pieces, communities), strict=True):
        by_community[owner].append(piece)
    unit_grids: list[UnitGrid] = []
    responsibility_grids: list[ResponsibilityGrid] = []
    for index, community in enumerate(communities):
        members = sorted(by_community[index], key=lambda piece: (-piece.row, piece.col, piece.part))
        assert 0 < len(members) <= MAX_GRIDS_PER_COMMUNITY, f"{community.code} has {len(members)} unit grids"
        blocks = _responsibility_blocks(members)
        block_numbers: dict[tuple[int, int], int] = {}
        for piece in members:  # numbered in the order of their first unit grid
            block_numbers.setdefault(blocks[(piece.row, piece.col)], len(block_numbers) + 1)
        assert len(block_numbers) <= MAX_RESPONSIBILITY_GRIDS, (
            f"{community.code} has too many responsibility grids"
        )
        for number in range(1, len(block_numbers) + 1):
            responsibility_grids.append(
                ResponsibilityGrid(
                    code=f"{community.code}{number:02d}",
                    name=f"{community.street_name}{community.name}第{number}责任网格",
                    community_code=community.code,
                )
            )
        for sequence, piece in enumerate(members, start=1):
            block_number = block_numbers[blocks[(piece.row, piece.col)]]
            unit_grids.append(
                UnitGrid(
                    code=f"{community.code}{sequence:03d}",
                    community_code=community.code,
                    responsibility_grid_code=f"{community.code}{block_number:02d}",
                    polygon=piece.polygon,
                )
            )
    return unit_grids, responsibility_grids


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _ring(coords: Iterable[tuple[float, ...]]) -> list[list[float]]:
    return [[round(point[0], COORD_DECIMALS), round(point[1], COORD_DECIMALS)] for point in coords]


def _write_unit_grids(path: Path, grids: list[UnitGrid]) -> None:
    lines: list[str] = []
    for grid in grids:
        feature = {
            "type": "Feature",
            "properties": {
                "code": grid.code,
                "community_code": grid.community_code,
                "responsibility_grid_code": grid.responsibility_grid_code,
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [_ring(grid.polygon.exterior.coords)]
                + [_ring(interior.coords) for interior in grid.polygon.interiors],
            },
        }
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def generate(out_dir: Path, *, seed: int = DEFAULT_SEED) -> DemoFiles:
    """Writes the demo city's areas, grids and places into out_dir (created if missing)."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = DemoFiles(
        areas=out_dir / "areas.csv",
        responsibility_grids=out_dir / "responsibility_grids.csv",
        unit_grids=out_dir / "unit_grids.geojson",
        places=out_dir / "places.csv",
    )
    communities = _communities(rng)
    unit_grids, responsibility_grids = _grids(lattice_pieces(SERVICE_AREA), communities)

    area_rows = [[names.DISTRICT_CODE, names.DISTRICT_NAME, "district", ""]]
    area_rows += [[code, name, "street", names.DISTRICT_CODE] for code, name in STREETS]
    area_rows += [[c.code, c.name, "community", c.street_code] for c in communities]
    _write_csv(files.areas, ("code", "name", "level", "parent_code"), area_rows)
    _write_csv(
        files.responsibility_grids,
        ("code", "name", "community_code"),
        [[grid.code, grid.name, grid.community_code] for grid in responsibility_grids],
    )
    _write_unit_grids(files.unit_grids, unit_grids)
    places = generate_places(SERVICE_AREA, rng)
    _write_csv(files.places, PLACE_COLUMNS, [place.row() for place in places])
    return files
