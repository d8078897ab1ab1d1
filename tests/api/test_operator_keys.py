"""PUT /api/v1/places/{code}/availability with keys managed by `core.places.operators` (what
`zhcg operators` does): rotation, disabling and lot assignment take effect on the next request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from core.models.places import ParkingOperator, Place, PlaceKind
from core.places import operators, service
from core.settings import get_settings
from tests.core.places.helpers import CENTRE, add_place

URL = "/api/v1/places"


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    service.invalidate_cache()
    app = create_app(get_settings())

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    service.invalidate_cache()


@pytest.fixture
def operator(session: Session) -> tuple[ParkingOperator, str]:
    return operators.add_operator(session, name="城投停车")


@pytest.fixture
def lot(session: Session, operator: tuple[ParkingOperator, str]) -> Place:
    place = add_place(session, "TC0001", *CENTRE, kind=PlaceKind.PARKING, capacity=80)
    operators.assign_lots(session, operator_id=operator[0].id or 0, codes=["TC0001"])
    return place


def push(client: TestClient, key: str, spaces: int = 12, code: str = "TC0001") -> Response:
    response: Response = client.put(
        f"{URL}/{code}/availability", json={"available_spaces": spaces}, headers={"X-Api-Key": key}
    )
    return response


def assert_refused(response: Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_an_added_operator_pushes_to_its_lot(
    client: TestClient, operator: tuple[ParkingOperator, str], lot: Place
) -> None:
    response = push(client, operator[1], 12)
    assert response.status_code == 200
    assert response.json()["available_spaces"] == 12
    assert client.get(f"{URL}/TC0001").json()["available_spaces"] == 12


def test_rotation_refuses_the_old_key_at_once(
    client: TestClient, session: Session, operator: tuple[ParkingOperator, str], lot: Place
) -> None:
    row, old_key = operator
    assert push(client, old_key, 10).status_code == 200
    _, new_key = operators.rotate_key(session, operator_id=row.id or 0)
    assert_refused(push(client, old_key, 11), 401, "invalid_api_key")
    response = push(client, new_key, 12)
    assert response.status_code == 200
    assert response.json()["available_spaces"] == 12


def test_a_disabled_operator_is_refused_until_enabled(
    client: TestClient, session: Session, operator: tuple[ParkingOperator, str], lot: Place
) -> None:
    row, key = operator
    operators.set_active(session, operator_id=row.id or 0, active=False)
    assert_refused(push(client, key, 5), 401, "invalid_api_key")
    assert lot.available_spaces is None
    operators.set_active(session, operator_id=row.id or 0, active=True)
    assert push(client, key, 6).status_code == 200


def test_an_operator_cannot_push_to_a_lot_of_another(
    client: TestClient, session: Session, operator: tuple[ParkingOperator, str], lot: Place
) -> None:
    other, other_key = operators.add_operator(session, name="乙停车")
    assert_refused(push(client, other_key, 5), 403, "place_not_operated")
    assert lot.available_spaces is None

    # Moving the lot moves the right to push: the former operator is refused from then on.
    operators.assign_lots(session, operator_id=other.id or 0, codes=["TC0001"])
    assert push(client, other_key, 7).status_code == 200
    assert_refused(push(client, operator[1], 8), 403, "place_not_operated")


def test_an_unassigned_lot_takes_no_pushes(
    client: TestClient, session: Session, operator: tuple[ParkingOperator, str], lot: Place
) -> None:
    operators.unassign_lots(session, codes=["TC0001"])
    assert_refused(push(client, operator[1]), 403, "place_not_operated")


def test_a_toilet_takes_no_pushes(
    client: TestClient, session: Session, operator: tuple[ParkingOperator, str]
) -> None:
    add_place(session, "GC0001", *CENTRE)
    assert_refused(push(client, operator[1], code="GC0001"), 403, "place_not_operated")
