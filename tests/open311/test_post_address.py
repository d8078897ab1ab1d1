"""POST requests with an address and no coordinates: placed in the community the address names, with
the operator told to check; refused with the specification's 400 when the address names none."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlmodel import Session, col, select

from core.models import CaseEvent
from core.models.open311 import Open311Token
from tests.fixtures.cases import City
from tests.fixtures.factories import Factory, cell
from tests.open311.conftest import error_of, xml_of
from tests.open311.test_post_requests import case_of, form


def address_only(city: City, api_key: str, address: str) -> dict[str, str]:
    return form(city, api_key, lat=None, long=None, address_string=address)


def test_an_address_naming_a_community_is_placed_in_it(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    address = "测试街道001测试社区001幸福路 12 号"
    response = client.post("/open311/v2/requests.json", data=address_only(city, api_key, address))
    assert response.status_code == 201, response.text
    (answer,) = response.json()
    assert "位置已按地址中的社区大致确定" in answer["service_notice"]
    case = case_of(session, answer["service_request_id"])
    assert case.community_code == city.community.code
    assert case.address == address
    cells = [cell(0, 0), cell(1, 0), cell(0, 1), cell(1, 1)]
    assert any(polygon.contains(Point(case.lng, case.lat)) for polygon in cells)
    (event,) = session.exec(select(CaseEvent).where(col(CaseEvent.case_id) == case.id)).all()
    assert "客户端只提供了地址，已按地址中的“测试社区001”放在该社区内的代表位置" in event.note
    shown = client.get(f"/open311/v2/requests/{case.case_no}.json").json()[0]
    assert (shown["address"], shown["lat"], shown["long"]) == (
        address,
        round(case.lat, 6),
        round(case.lng, 6),
    )


def test_a_community_name_shared_by_two_streets_needs_the_street(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    twin = city.factory.area_tree(street="002", community="001")  # also named 测试社区001
    city.factory.unit_grid(twin, 1, cell(5, 5))
    ambiguous = client.post(
        "/open311/v2/requests.xml", data=address_only(city, api_key, "测试社区001 菜市场")
    )
    assert ambiguous.status_code == 400
    assert error_of(ambiguous, "xml")[1].startswith("address_not_located")
    response = client.post(
        "/open311/v2/requests.xml", data=address_only(city, api_key, "测试街道002测试社区001 菜市场")
    )
    assert response.status_code == 201, response.text
    case_no = xml_of(response)[0].findtext("service_request_id") or ""
    assert case_of(session, case_no).community_code == twin.code


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_address_naming_no_community_is_refused_clearly(
    client: TestClient, session: Session, city: City, api_key: str, fmt: str
) -> None:
    response = client.post(f"/open311/v2/requests.{fmt}", data=address_only(city, api_key, "幸福路 12 号"))
    assert response.status_code == 400
    code, description = error_of(response, fmt)
    assert code == 400
    assert description.startswith("address_not_located: 无法根据 address_string 确定位置")
    assert "lat 和 long" in description
    assert session.exec(select(Open311Token)).all() == []


def test_coordinates_win_over_the_address(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    lng, lat = city.point(1, 1)
    data = form(city, api_key, lat=str(lat), long=str(lng), address_string="测试社区001 某处")
    response = client.post("/open311/v2/requests.json", data=data)
    assert response.status_code == 201
    (answer,) = response.json()
    assert "大致确定" not in answer["service_notice"]
    case = case_of(session, answer["service_request_id"])
    assert case.unit_grid_code.endswith("004")


def test_without_grids_an_address_cannot_be_located(
    client: TestClient, factory: Factory, api_key: str
) -> None:
    factory.category("BJ0101", "上水井盖")
    data = {
        "api_key": api_key,
        "service_code": "BJ0101",
        "address_string": "测试社区001",
        "description": "井盖缺失很危险",
    }
    response = client.post("/open311/v2/requests.json", data=data)
    assert response.status_code == 503
    assert error_of(response, "json")[1].startswith("grids_not_loaded")
