import math

import numpy as np
import pytest
import shapely
from shapely import MultiPolygon, Polygon, box

from core.geo.index import GridIndex, GridShape, naive_locate

# Cell size and origin are exact binary fractions, so points on the lattice lines are
# exactly representable and really lie on the shared edges.
S = 0.0078125  # 2**-7 degree
X0 = 114.875
Y0 = 27.8125
XS = [X0 + k * S for k in range(4)]
YS = [Y0 + k * S for k in range(4)]

COMMUNITY = "360502001001"

# Last three code digits of the 3x3 lattice, rows listed from north (j=2) to south (j=0).
LATTICE_SUFFIX = [
    ["009", "004", "007"],  # j = 2
    ["002", "010", "005"],  # j = 1
    ["008", "003", "006"],  # j = 0
]
IRREGULAR_CODE = COMMUNITY + "001"  # smallest code of all


def code(i: int, j: int) -> str:
    return COMMUNITY + LATTICE_SUFFIX[2 - j][i]


def shape(code_: str, polygon: Polygon, responsibility: str | None = None) -> GridShape:
    return GridShape(
        code=code_,
        polygon=polygon,
        community_code=COMMUNITY,
        street_code=COMMUNITY[:9],
        district_code=code_[:6],
        responsibility_grid_code=responsibility,
    )


def irregular_polygon() -> Polygon:
    """East of the lattice: a 2x3-cell box clipped by a slanted line (a river bank).

    Its west edge is the lattice's east edge x = XS[3] from YS[0] to YS[3].
    """
    bbox = box(XS[3], YS[0], XS[3] + 2 * S, YS[3])
    bank = Polygon([(XS[3], YS[0] - S), (XS[3] + 3 * S, YS[0] - S), (XS[3], YS[3] + S)])
    clipped = bbox.intersection(bank)
    assert isinstance(clipped, Polygon)
    return clipped


def make_grids() -> list[GridShape]:
    grids = [
        shape(code(i, j), box(XS[i], YS[j], XS[i + 1], YS[j + 1]), responsibility=f"R{i}")
        for j in range(3)
        for i in range(3)
    ]
    grids.append(shape(IRREGULAR_CODE, irregular_polygon()))
    # Input order deliberately unrelated to code order.
    return grids[5:] + grids[:5]


@pytest.fixture(scope="module")
def grids() -> list[GridShape]:
    return make_grids()


@pytest.fixture(scope="module")
def index(grids: list[GridShape]) -> GridIndex:
    return GridIndex.build(grids)


def located_code(index: GridIndex, grids: list[GridShape], lng: float, lat: float) -> str | None:
    """Locate with all three implementations, assert they agree, return the code."""
    single = index.locate(lng, lat)
    naive = naive_locate(grids, lng, lat)
    batch = int(index.locate_many([lng], [lat])[0])
    assert single is naive
    if single is None:
        assert batch == -1
        return None
    assert index.grid(batch) is single
    return single.code


def test_build_basics(index: GridIndex, grids: list[GridShape]) -> None:
    assert len(index) == 10
    assert index.grid(0) is grids[0]
    minx, miny, maxx, maxy = index.bounds
    assert (minx, miny, maxy) == (XS[0], YS[0], YS[3])
    assert maxx == pytest.approx(XS[3] + 2 * S)
    assert "10 grids" in repr(index)


def test_direct_construction_is_refused() -> None:
    with pytest.raises(TypeError):
        GridIndex()


def test_interior_points(index: GridIndex, grids: list[GridShape]) -> None:
    for i in range(3):
        for j in range(3):
            lng = XS[i] + 0.3 * S
            lat = YS[j] + 0.6 * S
            assert located_code(index, grids, lng, lat) == code(i, j)
    assert located_code(index, grids, XS[3] + 0.2 * S, YS[0] + 0.5 * S) == IRREGULAR_CODE
    found = index.locate(XS[0] + 0.5 * S, YS[0] + 0.5 * S)
    assert found is not None
    assert found.responsibility_grid_code == "R0"
    assert found.street_code == "360502001"
    assert found.district_code == "360502"


def test_shared_edge_smallest_code_wins(index: GridIndex, grids: list[GridShape]) -> None:
    # Vertical edge between (0,0)=008 and (1,0)=003.
    assert located_code(index, grids, XS[1], YS[0] + 0.5 * S) == COMMUNITY + "003"
    # Horizontal edge between (1,1)=010 and (1,2)=004.
    assert located_code(index, grids, XS[1] + 0.5 * S, YS[2]) == COMMUNITY + "004"
    # Horizontal edge between (2,0)=006 and (2,1)=005.
    assert located_code(index, grids, XS[2] + 0.25 * S, YS[1]) == COMMUNITY + "005"
    # Edge shared by lattice cell (2,0)=006 and the irregular cell=001.
    assert located_code(index, grids, XS[3], YS[0] + 0.5 * S) == IRREGULAR_CODE


def test_shared_corner_of_four_cells(index: GridIndex, grids: list[GridShape]) -> None:
    # (0,0)=008, (1,0)=003, (0,1)=002, (1,1)=010
    assert located_code(index, grids, XS[1], YS[1]) == COMMUNITY + "002"
    # (1,1)=010, (2,1)=005, (1,2)=004, (2,2)=007
    assert located_code(index, grids, XS[2], YS[2]) == COMMUNITY + "004"


def test_outer_boundary_belongs_to_touching_grid(index: GridIndex, grids: list[GridShape]) -> None:
    assert located_code(index, grids, XS[0], YS[1] + 0.5 * S) == code(0, 1)  # west edge
    assert located_code(index, grids, XS[1] + 0.5 * S, YS[3]) == code(1, 2)  # north edge
    assert located_code(index, grids, XS[0], YS[0]) == code(0, 0)  # outer corner
    # West edge between rows 0 and 1: shared outer vertex, smallest code among 008/002.
    assert located_code(index, grids, XS[0], YS[1]) == COMMUNITY + "002"
    # North-west corner of the lattice's NE cell touching the clipped cell's top vertex.
    assert located_code(index, grids, XS[3], YS[3]) == IRREGULAR_CODE


def test_outside_is_none(index: GridIndex, grids: list[GridShape]) -> None:
    assert located_code(index, grids, XS[0] - 1e-9, YS[1]) is None
    assert located_code(index, grids, XS[1], YS[3] + 1e-9) is None
    assert located_code(index, grids, 0.0, 0.0) is None
    # Inside the clipped cell's bounding box but beyond the river bank.
    assert located_code(index, grids, XS[3] + 1.9 * S, YS[3] - 0.1 * S) is None


def test_non_finite_points_are_outside(index: GridIndex) -> None:
    assert index.locate(math.nan, YS[1]) is None
    assert index.locate(XS[1], math.inf) is None
    out = index.locate_many(np.array([math.nan, XS[0] + 0.5 * S]), np.array([YS[1], YS[0] + 0.5 * S]))
    assert out[0] == -1
    assert index.grid(int(out[1])).code == code(0, 0)


def test_rule_does_not_depend_on_input_order(grids: list[GridShape]) -> None:
    forward = GridIndex.build(grids)
    backward = GridIndex.build(list(reversed(grids)))
    for lng, lat in [(XS[1], YS[1]), (XS[2], YS[2]), (XS[3], YS[0] + 0.5 * S), (XS[1], YS[0] + 0.3 * S)]:
        a = forward.locate(lng, lat)
        b = backward.locate(lng, lat)
        assert a is not None
        assert a is b


def random_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points over (and slightly beyond) the area, half of them snapped onto grid lines."""
    lngs = rng.uniform(XS[0] - S, XS[3] + 3 * S, n)
    lats = rng.uniform(YS[0] - S, YS[3] + S, n)
    snap_x = rng.random(n) < 0.25
    snap_y = rng.random(n) < 0.25
    lngs[snap_x] = rng.choice(np.array(XS), int(snap_x.sum()))
    lats[snap_y] = rng.choice(np.array(YS), int(snap_y.sum()))
    return lngs, lats


def test_all_implementations_agree_on_random_points(index: GridIndex, grids: list[GridShape]) -> None:
    rng = np.random.default_rng(20261121)
    lngs, lats = random_points(rng, 2000)
    batch = index.locate_many(lngs, lats)
    assert batch.shape == (2000,)
    assert np.issubdtype(batch.dtype, np.integer)
    counts = {"inside": 0, "outside": 0}
    for lng, lat, b in zip(lngs.tolist(), lats.tolist(), batch.tolist(), strict=True):
        single = index.locate(lng, lat)
        assert single is naive_locate(grids, lng, lat)
        if single is None:
            assert b == -1
            counts["outside"] += 1
        else:
            assert index.grid(b) is single
            counts["inside"] += 1
    assert counts["inside"] > 500
    assert counts["outside"] > 100


def test_locate_many_accepts_sequences_and_checks_shapes(index: GridIndex) -> None:
    out = index.locate_many([XS[0] + 0.5 * S, 0.0], [YS[0] + 0.5 * S, 0.0])
    assert index.grid(int(out[0])).code == code(0, 0)
    assert out[1] == -1
    assert index.locate_many([], []).shape == (0,)
    with pytest.raises(ValueError, match="equal length"):
        index.locate_many([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        index.locate_many(np.zeros((2, 2)), np.zeros((2, 2)))


def test_build_does_not_prepare_caller_polygons(grids: list[GridShape]) -> None:
    fresh = make_grids()
    GridIndex.build(fresh)
    assert not any(shapely.is_prepared(g.polygon) for g in fresh)


def test_build_rejects_bad_input() -> None:
    cell = box(0.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="duplicate"):
        GridIndex.build([shape("360502001001001", cell), shape("360502001001001", cell)])
    with pytest.raises(ValueError, match="Polygon"):
        GridIndex.build([shape("360502001001001", Polygon())])
    multi = MultiPolygon([cell, box(2.0, 2.0, 3.0, 3.0)])
    with pytest.raises(ValueError, match="Polygon"):
        GridIndex.build([shape("360502001001001", multi)])  # type: ignore[arg-type]


def test_empty_index() -> None:
    index = GridIndex.build([])
    assert len(index) == 0
    assert index.locate(114.9, 27.8) is None
    assert index.locate_many([114.9], [27.8]).tolist() == [-1]
    assert all(math.isnan(v) for v in index.bounds)
    assert naive_locate([], 114.9, 27.8) is None


def test_points_a_hair_off_the_edges(index: GridIndex, grids: list[GridShape]) -> None:
    """Points one ulp (and a little more) either side of every lattice line.

    The single-point lookup shortcuts through a bucket raster; these points sit at the
    very edge of buckets and cells and must still agree with the exact predicates.
    """
    rng = np.random.default_rng(7)
    lines = [*XS, XS[3] + 2 * S]
    for edge in lines:
        for off in (np.nextafter(edge, -np.inf), np.nextafter(edge, np.inf), edge - 1e-12, edge + 1e-12):
            for lat in rng.uniform(YS[0] - 0.5 * S, YS[3] + 0.5 * S, 20).tolist():
                located_code(index, grids, float(off), lat)
    for edge in YS:
        for off in (np.nextafter(edge, -np.inf), np.nextafter(edge, np.inf), edge - 1e-12, edge + 1e-12):
            for lng in rng.uniform(XS[0] - 0.5 * S, XS[3] + 2.5 * S, 20).tolist():
                located_code(index, grids, lng, float(off))
    # Exactly one ulp outside the west edge is outside; one ulp inside is the edge cell.
    assert located_code(index, grids, float(np.nextafter(XS[0], -np.inf)), YS[0] + 0.5 * S) is None
    assert located_code(index, grids, float(np.nextafter(XS[0], np.inf)), YS[0] + 0.5 * S) == code(0, 0)


def test_sparse_grids_far_apart() -> None:
    """Tiny cells hundreds of kilometres apart (raster resolution is capped)."""
    far = [
        shape("360502001001001", box(100.0, 20.0, 100.001, 20.001)),
        shape("360502001001002", box(120.0, 40.0, 120.001, 40.001)),
        shape("360502001001003", box(120.001, 40.0, 120.002, 40.001)),
    ]
    index = GridIndex.build(far)
    rng = np.random.default_rng(3)
    lngs = np.concatenate([rng.uniform(99.9995, 100.0015, 300), rng.uniform(119.9995, 120.0025, 300)])
    lats = np.concatenate([rng.uniform(19.9995, 20.0015, 300), rng.uniform(39.9995, 40.0015, 300)])
    lngs[::7] = 120.001  # the shared edge
    batch = index.locate_many(lngs, lats)
    for lng, lat, b in zip(lngs.tolist(), lats.tolist(), batch.tolist(), strict=True):
        single = index.locate(lng, lat)
        assert single is naive_locate(far, lng, lat)
        assert (b == -1) if single is None else (index.grid(b) is single)
    assert index.locate(120.001, 40.0005) is far[1]
    assert index.locate(110.0, 30.0) is None


def test_polygon_with_hole_and_island() -> None:
    outer = Polygon(
        [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)],
        holes=[[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)]],
    )
    island = box(1.5, 1.5, 2.5, 2.5)
    ring_grid = shape("360502001001002", outer)
    island_grid = shape("360502001001001", island)
    index = GridIndex.build([ring_grid, island_grid])
    assert index.locate(0.5, 0.5) is ring_grid
    assert index.locate(2.0, 2.0) is island_grid
    assert index.locate(1.2, 1.2) is None  # in the hole, off the island
    assert index.locate(1.0, 2.0) is ring_grid  # on the hole's boundary
    assert index.locate(2.5, 2.0) is island_grid
