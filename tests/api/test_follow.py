"""「我也遇到」: following a case instead of filing a duplicate."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.cases.service import ActionInput, perform
from core.cases.workflow import Action
from core.models import CaseStatus, Citizen, OutboxMessage, StaffRole
from tests.fixtures.cases import City, MakeCase


def test_follow_view_notify_and_count(
    client: TestClient, city: City, make_case: MakeCase, session: Session
) -> None:
    case = make_case(CaseStatus.ACCEPTED)
    reporter = session.get(Citizen, case.reporter_citizen_id)
    assert reporter is not None
    neighbour, stranger = city.citizen(), city.citizen()

    assert client.get(f"/api/v1/reports/{case.case_no}", headers=city.headers(neighbour)).status_code == 404
    first = client.post(f"/api/v1/reports/{case.case_no}/follow", headers=city.headers(neighbour))
    assert first.status_code == 201
    again = client.post(f"/api/v1/reports/{case.case_no}/follow", headers=city.headers(neighbour))
    assert again.status_code == 200
    assert client.get(f"/api/v1/reports/{case.case_no}", headers=city.headers(neighbour)).status_code == 200
    assert client.get(f"/api/v1/reports/{case.case_no}", headers=city.headers(stranger)).status_code == 404
    following = client.get("/api/v1/reports/following", headers=city.headers(neighbour)).json()
    assert [item["case_no"] for item in following["items"]] == [case.case_no]
    own = client.post(f"/api/v1/reports/{case.case_no}/follow", headers=city.headers(reporter))
    assert own.json()["code"] == "own_report"

    staff = client.get(
        f"/api/v1/staff/cases/{case.case_no}", headers=city.headers(city.staff[StaffRole.OPERATOR])
    )
    assert staff.json()["follower_count"] == 1
    listing = client.get("/api/v1/staff/cases", headers=city.headers(city.staff[StaffRole.OPERATOR])).json()
    assert next(item for item in listing["items"] if item["case_no"] == case.case_no)["follower_count"] == 1

    perform(
        session,
        city.settings,
        case_no=case.case_no,
        actor=city.staff[StaffRole.OPERATOR],
        action=Action.REGISTER,
        data=ActionInput(register_standard_id=city.manhole_loose.id),
    )
    told = set(
        session.exec(
            select(OutboxMessage.citizen_id).where(
                col(OutboxMessage.case_id) == case.id, col(OutboxMessage.event) == "case_registered"
            )
        ).all()
    )
    assert told == {reporter.id, neighbour.id}

    assert (
        client.delete(f"/api/v1/reports/{case.case_no}/follow", headers=city.headers(neighbour)).status_code
        == 204
    )
    assert client.get(f"/api/v1/reports/{case.case_no}", headers=city.headers(neighbour)).status_code == 404


def test_closed_or_private_cases_cannot_be_followed(
    client: TestClient, city: City, make_case: MakeCase
) -> None:
    citizen = city.citizen()
    closed = make_case(CaseStatus.CLOSED)
    assert (
        client.post(f"/api/v1/reports/{closed.case_no}/follow", headers=city.headers(citizen)).json()["code"]
        == "case_not_open"
    )
    private = make_case(CaseStatus.PENDING)
    private.is_public = False
    city.session.add(private)
    city.session.flush()
    assert (
        client.post(f"/api/v1/reports/{private.case_no}/follow", headers=city.headers(citizen)).status_code
        == 404
    )
