"""Login over HTTP: citizens by SMS code (through the local fake gateway), staff by password; /me."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, delete, select

from api.deps import get_session
from api.main import create_app
from core.citizens import repository as citizens_repository
from core.citizens import service as citizens_service
from core.db import session_scope
from core.kit.clock import utcnow
from core.models import AreaLevel, Citizen, SmsCode, StaffRole, StaffUser
from core.settings import Settings, get_settings
from core.staff.service import create_staff
from tests.fixtures.factories import Factory
from tests.fixtures.fake_sms import FakeSms, running_fake_sms

PHONE = "13800138000"
PASSWORD = "zhcg-test-password"


def app_with_auth(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def settings(fake: FakeSms) -> Settings:
    return fake.settings_for(get_settings())


@pytest.fixture
def client(session: Session, settings: Settings) -> Iterator[TestClient]:
    """Requests run in the test's rolled-back transaction, with the SMS gateway pointed at the fake."""
    app = app_with_auth(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def login(client: TestClient, fake: FakeSms, phone: str = PHONE) -> dict[str, object]:
    sent = client.post("/api/v1/auth/sms-code", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    answer = client.post("/api/v1/auth/phone", json={"phone": phone, "code": fake.last_code(phone)})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_code(
    session: Session, settings: Settings, *, code: str, minutes_ago: float, ip: str = "10.1.1.1"
) -> None:
    sent_at = utcnow() - timedelta(minutes=minutes_ago)
    citizens_repository.add_code(
        session,
        SmsCode(
            phone=PHONE,
            code_hash=citizens_service.code_hash(settings, phone=PHONE, purpose="login", code=code),
            expires_at=sent_at + timedelta(seconds=settings.auth.sms_code_ttl_s),
            client_ip=ip,
            created_at=sent_at,
            updated_at=sent_at,
        ),
    )


# --- citizens ---------------------------------------------------------------


def test_phone_login_flow(client: TestClient, fake: FakeSms, session: Session) -> None:
    sent = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert sent.status_code == 200
    assert sent.json() == {"sent": True, "expires_in": 300, "resend_after": 60}
    [message] = fake.messages_to(PHONE)
    assert "登录验证码" in message.content

    answer = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": fake.last_code(PHONE)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 24 * 3600
    assert body["citizen"]["phone_masked"] == "138****8000"
    assert PHONE not in answer.text

    me = client.get("/api/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json() == {"id": body["citizen"]["id"], "phone_masked": "138****8000"}

    # The same code does not work twice.
    reused = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": fake.last_code(PHONE)})
    assert (reused.status_code, reused.json()["code"]) == (401, "sms_code_invalid")


def test_token_is_rejected_after_token_version_bump(
    client: TestClient, fake: FakeSms, session: Session
) -> None:
    body = login(client, fake)
    citizen = session.exec(select(Citizen).where(col(Citizen.phone) == PHONE)).one()
    citizen.token_version += 1
    session.flush()
    me = client.get("/api/v1/me", headers=bearer(body["token"]))
    assert (me.status_code, me.json()["code"]) == (401, "unauthorized")
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_code(client: TestClient, fake: FakeSms) -> None:
    assert client.post("/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 200
    code = fake.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    answer = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": wrong})
    assert answer.status_code == 401
    assert answer.json() == {
        "code": "sms_code_invalid",
        "message": "验证码错误或已失效，请重新输入",
        "details": {"remaining_attempts": 4},
    }


def test_attempts_exceeded(client: TestClient, fake: FakeSms) -> None:
    assert client.post("/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 200
    code = fake.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    codes = [
        client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": wrong}).json()["code"]
        for _ in range(5)
    ]
    assert codes == ["sms_code_invalid"] * 4 + ["sms_code_attempts_exceeded"]
    dead = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": code})
    assert (dead.status_code, dead.json()["code"]) == (401, "sms_code_attempts_exceeded")


def test_expired_code(client: TestClient, session: Session, settings: Settings) -> None:
    add_code(session, settings, code="123456", minutes_ago=6)
    answer = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": "123456"})
    assert (answer.status_code, answer.json()["code"]) == (401, "sms_code_expired")


def test_resend_too_soon(client: TestClient, fake: FakeSms) -> None:
    assert client.post("/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 200
    again = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert again.status_code == 429
    body = again.json()
    assert body["code"] == "sms_rate_limited"
    assert body["details"]["reason"] == "resend_interval"
    assert 0 < int(again.headers["retry-after"]) <= 60
    assert len(fake.messages_to(PHONE)) == 1


def test_codes_per_phone_per_hour(
    client: TestClient, session: Session, settings: Settings, fake: FakeSms
) -> None:
    for minutes_ago in (50, 40, 30, 20, 10):
        add_code(session, settings, code="123456", minutes_ago=minutes_ago)
    answer = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert answer.status_code == 429
    assert answer.json()["details"]["reason"] == "phone_hourly"
    assert 9 * 60 < int(answer.headers["retry-after"]) <= 10 * 60
    assert fake.requests == 0


def test_codes_per_client_address_per_hour(client: TestClient, session: Session, settings: Settings) -> None:
    # TestClient's requests come from the address "testclient".
    for n in range(settings.auth.sms_codes_per_ip_per_hour):
        sent_at = utcnow() - timedelta(minutes=30)
        session.add(
            SmsCode(
                phone=f"137{n:08d}",
                code_hash="x",
                expires_at=sent_at,
                client_ip="testclient",
                created_at=sent_at,
                updated_at=sent_at,
            )
        )
    session.flush()
    answer = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert answer.status_code == 429
    assert answer.json()["details"]["reason"] == "ip_hourly"


@pytest.mark.parametrize("phone", ["1380013800", "23800138000", "电话", "13800138000x"])
def test_invalid_phone(client: TestClient, phone: str) -> None:
    answer = client.post("/api/v1/auth/sms-code", json={"phone": phone})
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_phone"


def test_missing_fields_are_invalid_requests(client: TestClient) -> None:
    answer = client.post("/api/v1/auth/phone", json={"phone": PHONE})
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")


def test_gateway_down(client: TestClient, fake: FakeSms) -> None:
    fake.fail_next(503)
    answer = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert (answer.status_code, answer.json()["code"]) == (503, "sms_unavailable")


def test_wrong_tries_are_committed_although_the_answer_is_an_error(engine: object, fake: FakeSms) -> None:
    """With the real unit of work (no test transaction): a refused code's count survives the 401."""
    settings = fake.settings_for(get_settings())
    phone = f"135{secrets.randbelow(10**8):08d}"
    try:
        with TestClient(app_with_auth(settings), raise_server_exceptions=False) as client:
            assert client.post("/api/v1/auth/sms-code", json={"phone": phone}).status_code == 200
            code = fake.last_code(phone)
            wrong = "000000" if code != "000000" else "111111"
            for _ in range(5):
                client.post("/api/v1/auth/phone", json={"phone": phone, "code": wrong})
            dead = client.post("/api/v1/auth/phone", json={"phone": phone, "code": code})
            assert dead.json()["code"] == "sms_code_attempts_exceeded"
        with session_scope() as session:
            row = citizens_repository.latest_code(session, phone=phone)
            assert row is not None
            assert (row.attempts, row.consumed_at) == (5, None)
            assert citizens_repository.citizen_by_phone(session, phone) is None
    finally:
        with session_scope() as session:
            session.exec(delete(SmsCode).where(col(SmsCode.phone) == phone))  # type: ignore[call-overload]


# --- staff ------------------------------------------------------------------


@pytest.fixture
def handler(session: Session, factory: Factory) -> StaffUser:
    department = factory.department("SZ01")
    user = create_staff(
        session,
        username="handler1",
        display_name="处置员甲",
        role=StaffRole.HANDLER,
        password=PASSWORD,
        department_id=department.id,
    )
    street = factory.area(AreaLevel.STREET, "360502001", "城南街道")
    user.area_id = street.id
    session.flush()
    return user


def test_staff_login_and_me(client: TestClient, handler: StaffUser) -> None:
    answer = client.post("/api/v1/staff/auth/login", json={"username": "handler1", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 12 * 3600
    assert body["staff"]["username"] == "handler1"
    assert PASSWORD not in answer.text
    assert "argon2" not in answer.text

    me = client.get("/api/v1/staff/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": handler.id,
        "username": "handler1",
        "display_name": "处置员甲",
        "role": "handler",
        "role_label": "处置人员",
        "department": {"id": handler.department_id, "code": "SZ01", "name": "测试部门SZ01"},
        "area": {"id": handler.area_id, "code": "360502001", "name": "城南街道", "level": "street"},
    }


def test_staff_without_department_or_area(client: TestClient, session: Session) -> None:
    create_staff(session, username="lead", display_name="领导", role=StaffRole.LEADER, password=PASSWORD)
    token = client.post("/api/v1/staff/auth/login", json={"username": "lead", "password": PASSWORD}).json()[
        "token"
    ]
    me = client.get("/api/v1/staff/me", headers=bearer(token)).json()
    assert (me["role_label"], me["department"], me["area"]) == ("领导", None, None)


@pytest.mark.parametrize(
    ("username", "password"), [("handler1", "wrong-password"), ("nobody", PASSWORD), ("handler1", "")]
)
def test_staff_bad_credentials(client: TestClient, handler: StaffUser, username: str, password: str) -> None:
    answer = client.post("/api/v1/staff/auth/login", json={"username": username, "password": password})
    if password:
        assert answer.status_code == 401
        assert answer.json() == {"code": "invalid_credentials", "message": "用户名或密码错误"}
    else:
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")


def test_inactive_staff_gets_the_same_answer(
    client: TestClient, session: Session, handler: StaffUser
) -> None:
    handler.active = False
    session.flush()
    answer = client.post("/api/v1/staff/auth/login", json={"username": "handler1", "password": PASSWORD})
    assert answer.status_code == 401
    assert answer.json() == {"code": "invalid_credentials", "message": "用户名或密码错误"}


def test_staff_token_revoked_by_version_bump(
    client: TestClient, session: Session, handler: StaffUser
) -> None:
    token = client.post(
        "/api/v1/staff/auth/login", json={"username": "handler1", "password": PASSWORD}
    ).json()["token"]
    handler.token_version += 1
    session.flush()
    assert client.get("/api/v1/staff/me", headers=bearer(token)).status_code == 401


def test_tokens_only_open_their_own_side(client: TestClient, fake: FakeSms, handler: StaffUser) -> None:
    citizen_token = login(client, fake)["token"]
    staff_token = client.post(
        "/api/v1/staff/auth/login", json={"username": "handler1", "password": PASSWORD}
    ).json()["token"]
    as_staff = client.get("/api/v1/staff/me", headers=bearer(citizen_token))
    assert (as_staff.status_code, as_staff.json()["code"]) == (403, "staff_only")
    as_citizen = client.get("/api/v1/me", headers=bearer(staff_token))
    assert (as_citizen.status_code, as_citizen.json()["code"]) == (403, "citizen_only")


def test_openapi_documents_the_auth_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/auth/sms-code", "/api/v1/auth/phone", "/api/v1/me", "/api/v1/staff/auth/login"} <= set(
        paths
    )
    assert "429" in paths["/api/v1/auth/sms-code"]["post"]["responses"]


def test_staff_login_is_throttled_after_repeated_failures(
    client: TestClient, handler: StaffUser, settings: Settings
) -> None:
    limit = settings.auth.staff_login_failures_per_username
    for _ in range(limit):
        wrong = client.post(
            "/api/v1/staff/auth/login", json={"username": handler.username, "password": "wrong-guess"}
        )
        assert wrong.status_code == 401
    blocked = client.post(
        "/api/v1/staff/auth/login", json={"username": handler.username, "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "login_rate_limited"
    assert int(blocked.headers["retry-after"]) > 0
