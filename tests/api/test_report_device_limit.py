"""Reports over HTTP with the clients' X-Device-Id: the per-device limit (across accounts), an idempotent
retry that is never limited, malformed identifiers, only a keyed hash stored, and the suspicious-pattern
flags shown to staff but never to citizens."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.deps import get_session
from api.main import create_app
from core.cases import intake
from core.kit.clock import utcnow
from core.models import Case, CaseStatus, Channel, Citizen, StaffRole
from core.settings import Settings, get_settings
from tests.fixtures.cases import City

DEVICE = "wx-7f3a9c2e-device-0001"


@pytest.fixture
def settings() -> Settings:
    """Small device limits, so a test files few reports; the per-citizen limits stay as configured."""
    base = get_settings()
    rewards = base.rewards.model_copy(
        update={"reports_per_device_per_hour": 3, "reports_per_device_per_day": 5}
    )
    return base.model_copy(update={"rewards": rewards})


@pytest.fixture
def client(session: Session, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def body(city: City, description: str = "路边垃圾堆积多日") -> dict[str, Any]:
    lng, lat = city.point()
    return {"category": "SJ0102", "description": description, "lng": lng, "lat": lat, "coord": "wgs84"}


def post(
    client: TestClient, city: City, citizen: Citizen, *, device: str | bytes | None = DEVICE, key: str = ""
) -> Any:
    headers: dict[str, Any] = city.headers(citizen)
    if device is not None:
        headers["X-Device-Id"] = device
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/reports", json=body(city), headers=headers)


def test_one_device_is_limited_across_accounts(client: TestClient, city: City) -> None:
    first, second = city.citizen(), city.citizen()
    assert post(client, city, first).status_code == 201
    assert post(client, city, first).status_code == 201
    assert post(client, city, second).status_code == 201
    refused = post(client, city, second)
    assert refused.status_code == 429
    assert refused.json()["code"] == "device_rate_limited"
    assert refused.json()["message"] == "该设备上报得太频繁了，请稍后再试"
    assert refused.headers["Retry-After"] == "3600"
    # Another device, or none, is not limited by this one.
    assert post(client, city, second, device="another-device-0002").status_code == 201
    assert post(client, city, second, device=None).status_code == 201


def test_the_daily_device_limit_counts_earlier_reports(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    device = intake.device_hash(settings, DEVICE)
    lng, lat = city.point()
    for index in range(3):  # earlier today, outside the hour
        session.add(
            Case(
                case_no=f"D{index:08d}",
                channel=Channel.MINIPROGRAM,
                status=CaseStatus.CLOSED,
                reporter_citizen_id=city.citizen().id,
                reporter_device=device,
                category_id=city.rubbish.id,
                description="早些时候的上报",
                lng=lng,
                lat=lat,
                unit_grid_code=f"{city.community.code}001",
                community_code=city.community.code,
                street_code=city.community.code[:9],
                district_code=city.community.code[:6],
                created_at=utcnow() - timedelta(hours=2),
            )
        )
    session.flush()
    citizen = city.citizen()
    assert post(client, city, citizen).status_code == 201
    assert post(client, city, citizen).status_code == 201
    refused = post(client, city, citizen)
    assert refused.status_code == 429
    assert refused.json()["code"] == "device_rate_limited"


def test_an_idempotent_retry_is_not_limited(client: TestClient, city: City) -> None:
    citizen = city.citizen()
    created = post(client, city, citizen, key="device-retry-0001")
    assert created.status_code == 201
    for _ in range(2):
        assert post(client, city, city.citizen()).status_code == 201
    assert post(client, city, citizen).status_code == 429  # the device is at its limit
    retried = post(client, city, citizen, key="device-retry-0001")
    assert retried.status_code == 200
    assert retried.json()["case_no"] == created.json()["case_no"]


@pytest.mark.parametrize(
    "device", ["", "short", "x" * 129, "abcd\tefgh", "设备标识一二三四".encode(), b"\xff" * 10]
)
def test_a_malformed_device_id_is_refused(
    client: TestClient, city: City, session: Session, device: str | bytes
) -> None:
    citizen = city.citizen()
    refused = post(client, city, citizen, device=device)
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_device_id"
    assert "设备标识" in refused.json()["message"]
    assert session.exec(select(Case).where(col(Case.reporter_citizen_id) == citizen.id)).first() is None


def test_only_a_keyed_hash_of_the_device_is_stored_and_never_logged(
    client: TestClient, city: City, session: Session, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    citizen = city.citizen()
    with caplog.at_level(logging.DEBUG):
        created = post(client, city, citizen)
    assert created.status_code == 201
    case = session.exec(select(Case).where(col(Case.case_no) == created.json()["case_no"])).one()
    assert case.reporter_device == intake.device_hash(settings, DEVICE)
    assert len(case.reporter_device) == 32
    assert all(DEVICE not in str(value) for value in case.model_dump().values())
    assert DEVICE not in caplog.text
    assert case.reporter_device not in caplog.text


def test_staff_see_the_flags_and_citizens_never_do(client: TestClient, city: City) -> None:
    reporters = [city.citizen() for _ in range(3)]
    answers = [post(client, city, citizen) for citizen in reporters]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    case_no = answers[-1].json()["case_no"]

    operator = city.headers(city.staff[StaffRole.OPERATOR])
    detail = client.get(f"/api/v1/staff/cases/{case_no}", headers=operator)
    assert detail.status_code == 200
    flags = detail.json()["reporter_flags"]
    assert [flag["code"] for flag in flags] == ["shared_device"]
    assert flags[0] == {
        "code": "shared_device",
        "label": "多账号共用设备",
        "detail": "该设备近 7 天有 3 个账号上报",
    }
    assert "reporter_device" not in detail.json()
    queue = client.get("/api/v1/staff/cases", headers=operator)
    assert all("reporter_device" not in item for item in queue.json()["items"])

    citizen = reporters[-1]
    device_hash = intake.device_hash(get_settings(), DEVICE)
    for seen in (
        answers[-1],
        client.get(f"/api/v1/reports/{case_no}", headers=city.headers(citizen)),
        client.get("/api/v1/reports/mine", headers=city.headers(citizen)),
    ):
        assert seen.status_code in {200, 201}
        for hidden in (
            "reporter_flags",
            "reporter_device",
            "shared_device",
            "多账号共用设备",
            device_hash,
            DEVICE,
        ):
            assert hidden not in seen.text


def test_a_supervisor_report_has_no_flags(client: TestClient, city: City) -> None:
    supervisor = city.staff[StaffRole.SUPERVISOR]
    reported = client.post(
        "/api/v1/staff/reports",
        json={
            **body(city, "井盖缺失，很危险"),
            "category": "BJ0101",
            "upload_ids": [city.upload(supervisor)],
        },
        headers=city.headers(supervisor),
    )
    assert reported.status_code == 201, reported.text
    assert reported.json()["reporter_flags"] == []
