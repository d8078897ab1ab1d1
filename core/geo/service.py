"""Geocoding: a point → unit grid, community, street, district, responsibility grid, and the
department routed for a category there.

The grid index (a shapely STRtree) is built once per process and reused; it is rebuilt when the
master data it was built from changes (checked at most every ``RECHECK_S`` seconds, and at once
after an import in this process).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from shapely.geometry import shape
from sqlmodel import Session

from core.geo import repository
from core.geo.coords import CoordSystem, to_wgs84, validate_lng_lat
from core.geo.errors import GridsNotLoaded, InvalidCoordinates, OutsideServiceArea, UnknownCategory
from core.geo.index import GridIndex, GridShape
from core.geo.schemas import CodeName, Location
from core.kit.cache import SignedCache
from core.masterdata.service import GEO_KINDS, on_imported

RECHECK_S = 10.0


@dataclass
class GeoContext:
    index: GridIndex
    area_names: dict[str, str]
    responsibility_names: dict[str, str]
    routing: dict[tuple[str, str | None], tuple[str, str]]
    minor_categories: set[str]

    def department_for(self, category: str, grid: GridShape) -> CodeName | None:
        """Most specific rule wins: community, then street, then district, then the default."""
        for area in (grid.community_code, grid.street_code, grid.district_code, None):
            found = self.routing.get((category, area))
            if found:
                return CodeName(code=found[0], name=found[1])
        return None


def build_context(session: Session) -> GeoContext:
    shapes = [
        GridShape(
            code=row.code,
            polygon=shape(json.loads(row.geometry)),  # type: ignore[arg-type]
            community_code=row.community_code,
            street_code=row.community_code[:9],
            district_code=row.community_code[:6],
            responsibility_grid_code=row.responsibility_grid_code,
        )
        for row in repository.grid_rows(session)
    ]
    return GeoContext(
        index=GridIndex.build(shapes),
        area_names=repository.area_names(session),
        responsibility_names=repository.responsibility_names(session),
        routing=repository.routing(session),
        minor_categories=repository.minor_category_codes(session),
    )


_cache: SignedCache[GeoContext] = SignedCache(
    build=lambda session: build_context(session),
    signature=repository.signature,
    recheck_s=RECHECK_S,
    kinds=frozenset(GEO_KINDS),
)
on_imported(_cache.invalidate)


def invalidate_cache() -> None:
    _cache.invalidate()


def get_context(session: Session) -> GeoContext:
    return _cache.get(session)


def _area(context: GeoContext, code: str) -> CodeName:
    return CodeName(code=code, name=context.area_names.get(code, ""))


def locate(
    session: Session,
    *,
    lng: float,
    lat: float,
    coord: CoordSystem = CoordSystem.WGS84,
    category: str | None = None,
) -> Location:
    try:
        validate_lng_lat(lng, lat)
    except ValueError as exc:
        raise InvalidCoordinates(str(exc)) from exc
    wgs_lng, wgs_lat = to_wgs84(lng, lat, coord)
    context = get_context(session)
    if len(context.index) == 0:
        raise GridsNotLoaded()
    if category is not None and category not in context.minor_categories:
        raise UnknownCategory(category)
    grid = context.index.locate(wgs_lng, wgs_lat)
    if grid is None:
        raise OutsideServiceArea(lng, lat)
    resp = grid.responsibility_grid_code
    return Location(
        lng=round(wgs_lng, 7),
        lat=round(wgs_lat, 7),
        unit_grid=grid.code,
        community=_area(context, grid.community_code),
        street=_area(context, grid.street_code),
        district=_area(context, grid.district_code),
        responsibility_grid=CodeName(code=resp, name=context.responsibility_names.get(resp, ""))
        if resp
        else None,
        category=category,
        department=context.department_for(category, grid) if category else None,
    )
