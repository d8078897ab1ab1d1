"""Geocoding against the database: grid, areas, responsibility grid and routed department."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.geo import service as geo_service
from core.geo.coords import CoordSystem, haversine_m, wgs84_to_gcj02
from core.geo.errors import GridsNotLoaded, InvalidCoordinates, OutsideServiceArea, UnknownCategory
from core.models import AdminArea, Category, Department
from tests.fixtures.factories import Factory, cell


class City:
    """Two streets; community A (street 001) has 2×2 cells, community B (street 002) one cell east."""

    def __init__(self, factory: Factory) -> None:
        self.community_a: AdminArea = factory.area_tree("360502", "001", "001")
        self.community_b: AdminArea = factory.area_tree("360502", "002", "001")
        resp = factory.responsibility_grid(self.community_a)
        for seq, (col, row) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)], start=1):
            factory.unit_grid(self.community_a, seq, cell(col, row), resp)
        factory.unit_grid(self.community_b, 1, cell(2, 0))
        self.manhole: Category = factory.category("BJ0101", "上水井盖")
        self.rubbish: Category = factory.category("SJ0102", "暴露垃圾")
        self.municipal: Department = factory.department("M01")
        self.street_office: Department = factory.department("S02")
        factory.routing(self.manhole, self.municipal)
        factory.routing(self.rubbish, self.municipal)
        factory.routing(
            self.rubbish, self.street_office, factory.session.get(AdminArea, self.community_b.parent_id)
        )


@pytest.fixture
def city(factory: Factory) -> City:
    return City(factory)


def centre(col: int, row: int) -> tuple[float, float]:
    point = cell(col, row).centroid
    return point.x, point.y


def test_point_resolves_to_grid_areas_and_responsibility_grid(session: Session, city: City) -> None:
    lng, lat = centre(1, 1)
    location = geo_service.locate(session, lng=lng, lat=lat)
    assert location.unit_grid == "360502001001004"
    assert location.community.code == "360502001001"
    assert location.street.code == "360502001"
    assert location.street.name == "测试街道001"
    assert location.district.code == "360502"
    assert location.district.name == "渝水区"
    assert location.responsibility_grid is not None
    assert location.responsibility_grid.code == "36050200100101"


def test_routing_prefers_the_most_specific_area(session: Session, city: City) -> None:
    in_a, in_b = centre(0, 0), centre(2, 0)
    default = geo_service.locate(session, lng=in_a[0], lat=in_a[1], category="SJ0102")
    override = geo_service.locate(session, lng=in_b[0], lat=in_b[1], category="SJ0102")
    assert default.department is not None
    assert default.department.code == "M01"
    assert override.department is not None
    assert override.department.code == "S02"
    no_category = geo_service.locate(session, lng=in_b[0], lat=in_b[1])
    assert no_category.department is None
    assert no_category.responsibility_grid is None


def test_gcj02_input_is_converted_to_wgs84(session: Session, city: City) -> None:
    lng, lat = centre(1, 0)
    gcj_lng, gcj_lat = wgs84_to_gcj02(lng, lat)
    assert haversine_m(lng, lat, gcj_lng, gcj_lat) > 100  # the offset would land in another cell
    location = geo_service.locate(session, lng=gcj_lng, lat=gcj_lat, coord=CoordSystem.GCJ02)
    assert location.unit_grid == "360502001001002"
    assert haversine_m(lng, lat, location.lng, location.lat) < 1.0


def test_outside_service_area(session: Session, city: City) -> None:
    with pytest.raises(OutsideServiceArea) as info:
        geo_service.locate(session, lng=116.397, lat=39.909)
    assert info.value.code == "outside_service_area"


def test_unknown_category(session: Session, city: City) -> None:
    lng, lat = centre(0, 0)
    with pytest.raises(UnknownCategory):
        geo_service.locate(session, lng=lng, lat=lat, category="BJ9999")
    with pytest.raises(UnknownCategory):
        geo_service.locate(session, lng=lng, lat=lat, category="BJ01")  # a major is not routable


@pytest.mark.parametrize(("lng", "lat"), [(181.0, 27.8), (114.9, -91.0), (float("nan"), 27.8)])
def test_invalid_coordinates(session: Session, city: City, lng: float, lat: float) -> None:
    with pytest.raises(InvalidCoordinates):
        geo_service.locate(session, lng=lng, lat=lat)


def test_no_grids_loaded(session: Session) -> None:
    with pytest.raises(GridsNotLoaded):
        geo_service.locate(session, lng=114.9, lat=27.8)


def test_index_is_reused_and_rebuilt_when_grids_change(
    session: Session, city: City, factory: Factory
) -> None:
    first = geo_service.get_context(session)
    assert geo_service.get_context(session) is first
    factory.unit_grid(city.community_b, 2, cell(3, 0))
    geo_service.invalidate_cache()
    lng, lat = centre(3, 0)
    assert geo_service.locate(session, lng=lng, lat=lat).unit_grid == "360502002001002"
