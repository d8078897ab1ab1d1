"""An ``address_string`` without coordinates, located by the city's master data.

zhcg has no street-address geocoder (no road or house-number register, and no third-party map service
behind an adapter). What the master data does have is the name of every community (社区), street
(街道) and district, and the unit grids of each community. So an address that names one community of
the city (its full registered name, e.g. "城南街道南门社区胜利路 12 号") is placed at a representative
point inside that community: the case is then routed (department, responsibility grid, supervisor)
by the community, which is what handling depends on, and the history tells the operator the position
is approximate. Anything vaguer — no community name, or one shared by several communities that the
street and district names in the address cannot tell apart — is not located (the caller refuses the
request: a case always has a point).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shapely.geometry import Point

from core.geo.index import GridShape

MIN_NAME = 2  # a one-character name would match almost any address


@dataclass(frozen=True, slots=True)
class AddressPoint:
    """Where an address-only request is put: a point inside one grid of the named community."""

    lng: float
    lat: float
    community_code: str
    community_name: str


def _occurs(name: str, address: str) -> bool:
    return len(name) >= MIN_NAME and name in address


def _named(names: Mapping[str, str], codes: Iterable[str], address: str) -> list[str]:
    """The codes whose name occurs in the address, a name inside a longer matched one left out
    ("南门社区" when "老南门社区" matched too)."""
    found = {code: names.get(code, "") for code in codes}
    found = {code: name for code, name in found.items() if _occurs(name, address)}
    return sorted(
        code
        for code, name in found.items()
        if not any(name != other and name in other for other in found.values())
    )


def _narrowed(candidates: list[str], names: Mapping[str, str], address: str) -> list[str]:
    """Several communities of the same name: keep those whose street, then district, is named too."""
    for parent_length in (9, 6):  # street and district codes are prefixes of the community code
        if len(candidates) <= 1:
            break
        named = [code for code in candidates if _occurs(names.get(code[:parent_length], ""), address)]
        candidates = named or candidates
    return candidates


def representative(grids: Sequence[GridShape]) -> Point:
    """A point inside the grid nearest the middle of these grids (a point inside the polygon even
    when the grid is concave; never on a border, so it locates to that grid)."""
    centroids = [grid.polygon.centroid for grid in grids]
    middle_x = sum(c.x for c in centroids) / len(centroids)
    middle_y = sum(c.y for c in centroids) / len(centroids)
    nearest = min(
        range(len(grids)),
        key=lambda i: ((centroids[i].x - middle_x) ** 2 + (centroids[i].y - middle_y) ** 2, grids[i].code),
    )
    return grids[nearest].polygon.representative_point()


def locate_address(
    address: str, *, area_names: Mapping[str, str], grids: Iterable[GridShape]
) -> AddressPoint | None:
    """The community an address names, and a point inside it; None when it names none or several."""
    by_community: dict[str, list[GridShape]] = {}
    for grid in grids:
        by_community.setdefault(grid.community_code, []).append(grid)
    candidates = _narrowed(_named(area_names, by_community, address), area_names, address)
    if len(candidates) != 1:
        return None
    (code,) = candidates
    point = representative(by_community[code])
    return AddressPoint(lng=point.x, lat=point.y, community_code=code, community_name=area_names[code])
