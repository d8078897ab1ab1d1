"""WeChat mini-program login over HTTP, through a local fake WeChat API and the fake SMS gateway."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from core.models import Case, Citizen
from core.settings import Settings, get_settings
from tests.fixtures.cases import MakeCase
from tests.fixtures.fake_sms import FakeSms, running_fake_sms
from tests.fixtures.fake_wechat import HTTP_500, FakeWechat, running_fake_wechat

PHONE = "13800138000"


@pytest.fixture
def fake_sms() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def fake_wechat() -> Iterator[FakeWechat]:
    with running_fake_wechat() as server:
        yield server


@pytest.fixture
def settings(fake_sms: FakeSms, fake_wechat: FakeWechat) -> Settings:
    settings = fake_wechat.settings_for(fake_sms.settings_for(get_settings()))
    # Several SMS codes to one phone in a test: no resend interval.
    auth = settings.auth.model_copy(update={"sms_code_resend_interval_s": 0})
    return settings.model_copy(update={"auth": auth})


def client_for(session: Session, settings: Settings) -> TestClient:
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(session: Session, settings: Settings) -> Iterator[TestClient]:
    with client_for(session, settings) as test_client:
        yield test_client


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wechat_login(client: TestClient, code: str) -> dict[str, object]:
    answer = client.post("/api/v1/auth/wechat", json={"code": code})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, object] = answer.json()
    return body


def sms_code(client: TestClient, fake_sms: FakeSms, phone: str = PHONE) -> str:
    sent = client.post("/api/v1/auth/sms-code", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    return fake_sms.last_code(phone)


def test_first_login_registers_and_second_login_finds_the_same_citizen(
    client: TestClient, fake_wechat: FakeWechat, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code, user = fake_wechat.add_user()
    first = wechat_login(client, code)
    assert first["token_type"] == "bearer"
    assert user.session_key not in str(first)
    citizen_id = first["citizen"]["id"]  # type: ignore[index]
    citizen = session.get(Citizen, citizen_id)
    assert citizen is not None
    assert (citizen.openid, citizen.unionid, citizen.phone) == (user.openid, None, None)

    me = client.get("/api/v1/me", headers=bearer(first["token"]))
    assert me.status_code == 200
    assert me.json() == {"id": citizen_id, "phone_masked": ""}

    again, _ = fake_wechat.add_user(user.openid)
    second = wechat_login(client, again)
    assert second["citizen"]["id"] == citizen_id  # type: ignore[index]
    assert user.session_key not in caplog.text

    # A code works once.
    reused = client.post("/api/v1/auth/wechat", json={"code": code})
    assert (reused.status_code, reused.json()["code"]) == (401, "wechat_code_invalid")


def test_unionid_is_kept(client: TestClient, fake_wechat: FakeWechat, session: Session) -> None:
    code, user = fake_wechat.add_user(unionid="union-1")
    body = wechat_login(client, code)
    citizen = session.get(Citizen, body["citizen"]["id"])  # type: ignore[index]
    assert citizen is not None
    assert citizen.unionid == "union-1"

    # A later login without unionid does not forget it.
    again, _ = fake_wechat.add_user(user.openid)
    wechat_login(client, again)
    session.refresh(citizen)
    assert citizen.unionid == "union-1"


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("code-invalid", 401, "wechat_code_invalid"),
        ("code-used", 401, "wechat_code_invalid"),
        ("code-unknown", 401, "wechat_code_invalid"),
        ("code-rate-limited", 429, "wechat_rate_limited"),
        ("code-blocked", 403, "wechat_user_blocked"),
        ("code-busy", 503, "wechat_unavailable"),
        ("code-other", 503, "wechat_unavailable"),
        (HTTP_500, 503, "wechat_unavailable"),
    ],
)
def test_wechat_errors_map_to_http(client: TestClient, code: str, status: int, error: str) -> None:
    answer = client.post("/api/v1/auth/wechat", json={"code": code})
    assert (answer.status_code, answer.json()["code"]) == (status, error), answer.text
    if error == "wechat_code_invalid":
        assert answer.json()["message"] == "登录凭证无效或已使用，请重新登录"


def test_unreachable_wechat_is_unavailable(session: Session, settings: Settings) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = settings.model_copy(
        update={"wechat": settings.wechat.model_copy(update={"api_base": f"http://127.0.0.1:{port}"})}
    )
    with client_for(session, down) as client:
        answer = client.post("/api/v1/auth/wechat", json={"code": "anything"})
    assert (answer.status_code, answer.json()["code"]) == (503, "wechat_unavailable")


def test_not_configured(session: Session, settings: Settings) -> None:
    bare = settings.model_copy(update={"wechat": settings.wechat.model_copy(update={"app_id": ""})})
    with client_for(session, bare) as client:
        answer = client.post("/api/v1/auth/wechat", json={"code": "anything"})
    assert (answer.status_code, answer.json()["code"]) == (503, "wechat_not_configured")


def test_bind_phone_to_wechat_citizen(
    client: TestClient, fake_wechat: FakeWechat, fake_sms: FakeSms, session: Session
) -> None:
    code, user = fake_wechat.add_user()
    login = wechat_login(client, code)
    headers = bearer(login["token"])

    wrong = client.post(
        "/api/v1/auth/wechat/bind-phone", json={"phone": PHONE, "code": "000000"}, headers=headers
    )
    assert wrong.status_code == 401

    answer = client.post(
        "/api/v1/auth/wechat/bind-phone",
        json={"phone": PHONE, "code": sms_code(client, fake_sms)},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["citizen"] == {"id": login["citizen"]["id"], "phone_masked": "138****8000"}  # type: ignore[index]
    citizen = session.get(Citizen, body["citizen"]["id"])
    assert citizen is not None
    assert (citizen.phone, citizen.openid) == (PHONE, user.openid)

    # Phone login now reaches the same citizen.
    phone_login = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": sms_code(client, fake_sms)})
    assert phone_login.json()["citizen"]["id"] == citizen.id


def test_bind_phone_requires_a_citizen_token(client: TestClient) -> None:
    answer = client.post("/api/v1/auth/wechat/bind-phone", json={"phone": PHONE, "code": "123456"})
    assert answer.status_code == 401


def test_bind_phone_of_existing_citizen_merges(
    client: TestClient, fake_wechat: FakeWechat, fake_sms: FakeSms, session: Session, make_case: MakeCase
) -> None:
    # A citizen who registered by phone and reported a case.
    phone_login = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": sms_code(client, fake_sms)})
    assert phone_login.status_code == 200, phone_login.text
    kept_id = phone_login.json()["citizen"]["id"]
    old_case = make_case()
    old_case.reporter_citizen_id = kept_id

    # The same person logs in with WeChat (a new citizen) and reports another case.
    code, user = fake_wechat.add_user(unionid="union-2")
    login = wechat_login(client, code)
    wechat_id = login["citizen"]["id"]  # type: ignore[index]
    assert wechat_id != kept_id
    new_case = make_case()
    new_case.reporter_citizen_id = wechat_id
    session.flush()

    answer = client.post(
        "/api/v1/auth/wechat/bind-phone",
        json={"phone": PHONE, "code": sms_code(client, fake_sms)},
        headers=bearer(login["token"]),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["citizen"] == {"id": kept_id, "phone_masked": "138****8000"}

    session.expire_all()
    kept = session.get(Citizen, kept_id)
    merged = session.get(Citizen, wechat_id)
    assert kept is not None
    assert merged is not None
    assert (kept.phone, kept.openid, kept.unionid, kept.active) == (PHONE, user.openid, "union-2", True)
    assert (merged.openid, merged.active) == (None, False)
    for case_id in (old_case.id, new_case.id):
        case = session.get(Case, case_id)
        assert case is not None
        assert case.reporter_citizen_id == kept_id

    # The old WeChat citizen's token no longer works; the new one does.
    assert client.get("/api/v1/me", headers=bearer(login["token"])).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(body["token"])).json()["id"] == kept_id

    # Logging in with WeChat again reaches the kept citizen.
    again, _ = fake_wechat.add_user(user.openid)
    assert wechat_login(client, again)["citizen"]["id"] == kept_id  # type: ignore[index]
