"""Locating an address by the community it names (pure: names and grid shapes in, a point out)."""

from __future__ import annotations

from shapely import Polygon, box
from shapely.geometry import Point

from core.geo.index import GridShape
from core.open311.address import locate_address, representative

NAMES = {
    "360502": "渝水区",
    "360503": "分宜县",
    "360502001": "城南街道",
    "360502002": "城北街道",
    "360503001": "城南镇",
    "360502001001": "南门社区",
    "360502001002": "老南门社区",
    "360502002001": "团结社区",
    "360503001001": "团结社区",
}


def grid(community: str, seq: int, polygon: Polygon) -> GridShape:
    return GridShape(
        code=f"{community}{seq:03d}",
        polygon=polygon,
        community_code=community,
        street_code=community[:9],
        district_code=community[:6],
        responsibility_grid_code=None,
    )


GRIDS = [
    grid("360502001001", 1, box(0, 0, 1, 1)),
    grid("360502001001", 2, box(1, 0, 2, 1)),
    grid("360502001001", 3, box(2, 0, 3, 1)),
    grid("360502001002", 1, box(0, 5, 1, 6)),
    grid("360502002001", 1, box(10, 0, 11, 1)),
    grid("360503001001", 1, box(20, 0, 21, 1)),
]


def located(address: str) -> str | None:
    found = locate_address(address, area_names=NAMES, grids=GRIDS)
    return found.community_code if found else None


def test_a_named_community_is_placed_inside_its_middle_grid() -> None:
    found = locate_address("城南街道南门社区胜利路 12 号", area_names=NAMES, grids=GRIDS)
    assert found is not None
    assert (found.community_code, found.community_name) == ("360502001001", "南门社区")
    assert box(1, 0, 2, 1).contains(Point(found.lng, found.lat))  # the middle one of three cells


def test_the_longest_matching_name_wins() -> None:
    assert located("老南门社区菜市场门口") == "360502001002"


def test_a_shared_name_needs_its_street_or_district() -> None:
    assert located("团结社区 3 栋") is None
    assert located("城北街道团结社区 3 栋") == "360502002001"
    assert located("分宜县团结社区 3 栋") == "360503001001"


def test_no_community_named_is_not_located() -> None:
    assert located("胜利路 12 号") is None
    assert located("城南街道胜利路") is None  # a street alone is too coarse to route a case
    assert located("") is None


def test_a_community_without_grids_is_not_located() -> None:
    names = {**NAMES, "360502001003": "无网格社区"}
    assert locate_address("无网格社区", area_names=names, grids=GRIDS) is None


def test_the_representative_point_lies_inside_a_concave_grid() -> None:
    l_shape = Polygon([(0, 0), (3, 0), (3, 0.2), (0.2, 0.2), (0.2, 3), (0, 3)])
    assert not l_shape.contains(l_shape.centroid)
    point = representative([grid("360502001001", 1, l_shape)])
    assert l_shape.contains(point)
