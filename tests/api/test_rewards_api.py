"""Rewards over HTTP: balance, ledger, catalogue, an idempotent redemption, staff refund; and the
report rate limit that protects the points."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from core.cases.service import ActionInput, perform
from core.cases.workflow import Action
from core.models import CaseStatus, Citizen, StaffRole
from core.models.rewards import RewardItem, RewardItemKind
from tests.fixtures.cases import City, MakeCase


def test_points_flow(client: TestClient, city: City, make_case: MakeCase, session: Session) -> None:
    case = make_case(CaseStatus.ACCEPTED)
    citizen = session.get(Citizen, case.reporter_citizen_id)
    assert citizen is not None
    perform(
        session,
        city.settings,
        case_no=case.case_no,
        actor=city.staff[StaffRole.OPERATOR],
        action=Action.REGISTER,
        data=ActionInput(register_standard_id=city.manhole_loose.id),
    )
    session.add(RewardItem(code="TCQ", name="停车券", kind=RewardItemKind.COUPON, points_cost=10, stock=3))
    session.flush()
    headers = city.headers(citizen)
    assert client.get("/api/v1/rewards/balance", headers=headers).json() == {"balance": 15}
    ledger = client.get("/api/v1/rewards/ledger", headers=headers).json()
    assert {line["reason"] for line in ledger["items"]} == {"report_registered", "first_report_bonus"}
    assert client.get("/api/v1/rewards/items").json()[0]["code"] == "TCQ"

    keyed = {**headers, "Idempotency-Key": "redeem-api-0001"}
    first = client.post("/api/v1/rewards/redemptions", json={"item": "TCQ"}, headers=keyed)
    assert first.status_code == 201
    again = client.post("/api/v1/rewards/redemptions", json={"item": "TCQ"}, headers=keyed)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert client.get("/api/v1/rewards/balance", headers=headers).json() == {"balance": 5}
    no_key = client.post("/api/v1/rewards/redemptions", json={"item": "TCQ"}, headers=headers)
    assert no_key.status_code == 422
    poor = client.post(
        "/api/v1/rewards/redemptions",
        json={"item": "TCQ"},
        headers={**headers, "Idempotency-Key": "redeem-api-0002"},
    )
    assert poor.json()["code"] == "insufficient_points"

    redemption_id = first.json()["id"]
    operator = city.headers(city.staff[StaffRole.OPERATOR])
    assert (
        client.post(f"/api/v1/staff/redemptions/{redemption_id}/refund", headers=operator).status_code == 403
    )
    admin = city.headers(city.staff[StaffRole.ADMIN])
    refunded = client.post(f"/api/v1/staff/redemptions/{redemption_id}/refund", headers=admin)
    assert refunded.json()["status"] == "refunded"
    assert client.get("/api/v1/rewards/balance", headers=headers).json() == {"balance": 15}


def test_reports_are_rate_limited_per_citizen(client: TestClient, city: City) -> None:
    citizen = city.citizen()
    lng, lat = city.point()
    body = {"category": "SJ0102", "description": "路边垃圾堆积多日", "lng": lng, "lat": lat, "coord": "wgs84"}
    limit = city.settings.rewards.reports_per_citizen_per_hour
    for _ in range(limit):
        assert client.post("/api/v1/reports", json=body, headers=city.headers(citizen)).status_code == 201
    refused = client.post("/api/v1/reports", json=body, headers=city.headers(citizen))
    assert refused.status_code == 429
    assert refused.json()["code"] == "report_rate_limited"
