"""Managing parking operators: add, list, rotate keys, disable/enable, assign and unassign lots."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core.errors import ErrorKind
from core.models.places import ParkingOperator, Place, PlaceKind
from core.places import operators, service
from core.places.errors import InvalidApiKey
from core.places.operators import (
    InvalidOperatorName,
    LotsRefused,
    NoLotCodes,
    OperatorNameTaken,
    OperatorNotFound,
)
from tests.core.places.helpers import CENTRE, add_place


def operator_count(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(ParkingOperator)).scalar_one())


def lot(session: Session, code: str, operator: ParkingOperator | None = None) -> Place:
    return add_place(
        session,
        code,
        *CENTRE,
        kind=PlaceKind.PARKING,
        capacity=50,
        operator_id=operator.id if operator else None,
    )


@pytest.fixture
def operator(session: Session) -> tuple[ParkingOperator, str]:
    return operators.add_operator(session, name="城投停车")


def test_add_stores_only_the_hash_and_the_key_authenticates(session: Session) -> None:
    operator, key = operators.add_operator(session, name="  城投停车  ")
    assert operator.id is not None
    assert operator.name == "城投停车"
    assert operator.active
    assert len(key) >= 40
    assert operator.api_key_hash == service.hash_api_key(key)
    assert key not in operator.api_key_hash
    assert service.authenticate_operator(session, api_key=key).id == operator.id


@pytest.mark.parametrize("name", ["", "   "])
def test_add_refuses_an_empty_name(session: Session, name: str) -> None:
    with pytest.raises(InvalidOperatorName):
        operators.add_operator(session, name=name)
    assert operator_count(session) == 0


def test_add_refuses_a_long_name(session: Session) -> None:
    with pytest.raises(InvalidOperatorName) as caught:
        operators.add_operator(session, name="停" * 129)
    assert caught.value.code == "invalid_operator_name"
    assert operator_count(session) == 0
    assert operators.add_operator(session, name="停" * 128)[0].id is not None


def test_add_refuses_a_taken_name(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    with pytest.raises(OperatorNameTaken) as caught:
        operators.add_operator(session, name=" 城投停车")
    assert caught.value.code == "operator_name_taken"
    assert caught.value.kind is ErrorKind.CONFLICT
    assert f"#{operator[0].id}" in caught.value.message
    assert operator_count(session) == 1


def test_list_counts_lots_per_operator(session: Session) -> None:
    first, _ = operators.add_operator(session, name="甲停车")
    second, _ = operators.add_operator(session, name="乙停车")
    operators.set_active(session, operator_id=second.id or 0, active=False)
    lot(session, "TC0001", first)
    lot(session, "TC0002", first)
    lot(session, "TC0003")
    rows = operators.list_operators(session)
    assert [(row.id, row.name, row.active, row.lots) for row in rows] == [
        (first.id, "甲停车", True, 2),
        (second.id, "乙停车", False, 0),
    ]


def test_list_of_no_operators_is_empty(session: Session) -> None:
    assert operators.list_operators(session) == []


def test_rotate_key_replaces_the_old_key(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    row, old_key = operator
    rotated, new_key = operators.rotate_key(session, operator_id=row.id or 0)
    assert rotated.id == row.id
    assert new_key != old_key
    assert rotated.api_key_hash == service.hash_api_key(new_key)
    with pytest.raises(InvalidApiKey):
        service.authenticate_operator(session, api_key=old_key)
    assert service.authenticate_operator(session, api_key=new_key).id == row.id


def test_rotate_key_of_an_unknown_operator(session: Session) -> None:
    with pytest.raises(OperatorNotFound) as caught:
        operators.rotate_key(session, operator_id=999_999)
    assert caught.value.code == "operator_not_found"
    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert "#999999" in caught.value.message


def test_disable_and_enable(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    row, key = operator
    assert row.id is not None
    disabled, changed = operators.set_active(session, operator_id=row.id, active=False)
    assert (disabled.active, changed) == (False, True)
    with pytest.raises(InvalidApiKey):
        service.authenticate_operator(session, api_key=key)
    assert operators.set_active(session, operator_id=row.id, active=False)[1] is False

    enabled, changed = operators.set_active(session, operator_id=row.id, active=True)
    assert (enabled.active, changed) == (True, True)
    assert service.authenticate_operator(session, api_key=key).id == row.id
    assert operators.set_active(session, operator_id=row.id, active=True)[1] is False


def test_disable_an_unknown_operator(session: Session) -> None:
    with pytest.raises(OperatorNotFound):
        operators.set_active(session, operator_id=999_999, active=False)


def test_assign_and_unassign(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    row = operator[0]
    other, _ = operators.add_operator(session, name="乙停车")
    first = lot(session, "TC0001")
    second = lot(session, "TC0002", other)
    updated_at = first.updated_at

    changes = operators.assign_lots(session, operator_id=row.id or 0, codes=["TC0001", "TC0002", "TC0001"])
    assert [(c.code, c.previous_operator_id) for c in changes] == [("TC0001", None), ("TC0002", other.id)]
    assert (first.operator_id, second.operator_id) == (row.id, row.id)
    assert first.updated_at == updated_at  # the nearest-place index is not rebuilt for this

    again = operators.assign_lots(session, operator_id=row.id or 0, codes=["TC0001"])
    assert again[0].previous_operator_id == row.id

    removed = operators.unassign_lots(session, codes=["TC0002"])
    assert [(c.code, c.previous_operator_id) for c in removed] == [("TC0002", row.id)]
    assert (first.operator_id, second.operator_id) == (row.id, None)
    assert operators.unassign_lots(session, codes=["TC0002"])[0].previous_operator_id is None


def test_a_disabled_operator_may_get_lots(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    row = operator[0]
    operators.set_active(session, operator_id=row.id or 0, active=False)
    place = lot(session, "TC0001")
    operators.assign_lots(session, operator_id=row.id or 0, codes=["TC0001"])
    assert place.operator_id == row.id


def test_assign_refuses_an_unknown_operator(session: Session) -> None:
    place = lot(session, "TC0001")
    with pytest.raises(OperatorNotFound):
        operators.assign_lots(session, operator_id=999_999, codes=["TC0001"])
    assert place.operator_id is None


def test_assign_refuses_unknown_codes_and_toilets_and_writes_nothing(
    session: Session, operator: tuple[ParkingOperator, str]
) -> None:
    row = operator[0]
    other, _ = operators.add_operator(session, name="乙停车")
    good = lot(session, "TC0001", other)
    fresh = lot(session, "TC0002")
    toilet = add_place(session, "GC0001", *CENTRE)
    with pytest.raises(LotsRefused) as caught:
        operators.assign_lots(
            session, operator_id=row.id or 0, codes=["TC0001", "NOPE1", "GC0001", "TC0002", "NOPE2"]
        )
    error = caught.value
    assert error.code == "lots_refused"
    assert error.kind is ErrorKind.INVALID
    assert error.details == {"unknown": ["NOPE1", "NOPE2"], "not_parking": ["GC0001"]}
    assert "NOPE1、NOPE2" in error.message
    assert "GC0001" in error.message
    assert "TC0001" not in error.message
    assert (good.operator_id, fresh.operator_id, toilet.operator_id) == (other.id, None, None)


def test_assign_refuses_a_toilet_alone(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    toilet = add_place(session, "GC0001", *CENTRE)
    with pytest.raises(LotsRefused) as caught:
        operators.assign_lots(session, operator_id=operator[0].id or 0, codes=["GC0001"])
    assert caught.value.details == {"unknown": [], "not_parking": ["GC0001"]}
    assert "设施编码不存在" not in caught.value.message
    assert toilet.operator_id is None


def test_unassign_refuses_unknown_codes_and_writes_nothing(
    session: Session, operator: tuple[ParkingOperator, str]
) -> None:
    place = lot(session, "TC0001", operator[0])
    add_place(session, "GC0001", *CENTRE)
    with pytest.raises(LotsRefused) as caught:
        operators.unassign_lots(session, codes=["TC0001", "NOPE", "GC0001"])
    assert caught.value.details == {"unknown": ["NOPE"], "not_parking": ["GC0001"]}
    assert place.operator_id == operator[0].id


def test_no_codes_is_refused(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    with pytest.raises(NoLotCodes):
        operators.assign_lots(session, operator_id=operator[0].id or 0, codes=[])
    with pytest.raises(NoLotCodes):
        operators.unassign_lots(session, codes=[])


def test_an_inactive_lot_can_be_assigned(session: Session, operator: tuple[ParkingOperator, str]) -> None:
    place = add_place(session, "TC0001", *CENTRE, kind=PlaceKind.PARKING, active=False)
    operators.assign_lots(session, operator_id=operator[0].id or 0, codes=["TC0001"])
    assert place.operator_id == operator[0].id
