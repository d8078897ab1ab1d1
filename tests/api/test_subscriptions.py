"""Recording the mini-program's subscribe-message consents over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from core.settings import Settings, SubscribeTemplate, get_settings
from core.wechat import consents
from tests.fixtures.fake_sms import FakeSms, running_fake_sms
from tests.fixtures.fake_wechat import FakeWechat, running_fake_wechat

PROGRESS, RESULT = "tmpl-progress", "tmpl-result"
PHONE = "13800138111"


@pytest.fixture
def fake_wechat() -> Iterator[FakeWechat]:
    with running_fake_wechat() as server:
        yield server


@pytest.fixture
def fake_sms() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def settings(fake_wechat: FakeWechat, fake_sms: FakeSms) -> Settings:
    base = fake_wechat.settings_for(fake_sms.settings_for(get_settings()))
    wechat = base.wechat.model_copy(
        update={
            "subscribe_templates": {
                "case_closed": SubscribeTemplate(template_id=RESULT),
                "case_registered": SubscribeTemplate(template_id=PROGRESS),
                "case_dispatched": SubscribeTemplate(template_id=PROGRESS),
            },
            "max_consents_per_template": 3,
        }
    )
    auth = base.auth.model_copy(update={"sms_code_resend_interval_s": 0})  # two codes to one phone
    return base.model_copy(update={"wechat": wechat, "auth": auth})


@pytest.fixture
def client(session: Session, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def login(client: TestClient, fake_wechat: FakeWechat) -> dict[str, str]:
    code, _ = fake_wechat.add_user()
    answer = client.post("/api/v1/auth/wechat", json={"code": code})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_lists_templates_most_useful_first(client: TestClient, fake_wechat: FakeWechat) -> None:
    answer = client.get("/api/v1/wechat/subscriptions", headers=login(client, fake_wechat))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "templates": [
            {"template_id": PROGRESS, "events": ["case_registered", "case_dispatched"], "available": 0},
            {"template_id": RESULT, "events": ["case_closed"], "available": 0},
        ]
    }


def test_records_the_answer_of_request_subscribe_message_as_it_is(
    client: TestClient, fake_wechat: FakeWechat
) -> None:
    headers = login(client, fake_wechat)
    body = {
        PROGRESS: "accept",
        RESULT: "reject",
        "unknown-template": "accept",
        "errMsg": "requestSubscribeMessage:ok",
    }
    answer = client.post("/api/v1/wechat/subscriptions", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    counts = {row["template_id"]: row["available"] for row in answer.json()["templates"]}
    assert counts == {PROGRESS: 1, RESULT: 0}
    for _ in range(5):
        client.post("/api/v1/wechat/subscriptions", json={PROGRESS: "accept"}, headers=headers)
    answer = client.get("/api/v1/wechat/subscriptions", headers=headers)
    assert answer.json()["templates"][0]["available"] == 3  # capped


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({PROGRESS: "maybe"}, "invalid_subscribe_choice"),
        ({"x" * 65: "accept"}, "invalid_template_id"),
        ({f"t{i}": "accept" for i in range(21)}, "too_many_templates"),
    ],
)
def test_bad_answers_are_refused(
    client: TestClient, fake_wechat: FakeWechat, body: dict[str, str], code: str
) -> None:
    answer = client.post("/api/v1/wechat/subscriptions", json=body, headers=login(client, fake_wechat))
    assert answer.status_code == 422
    assert answer.json()["code"] == code


def test_a_non_string_choice_is_a_validation_problem(client: TestClient, fake_wechat: FakeWechat) -> None:
    answer = client.post(
        "/api/v1/wechat/subscriptions", json={PROGRESS: 1}, headers=login(client, fake_wechat)
    )
    assert answer.status_code == 422


def test_needs_a_wechat_citizen(client: TestClient, fake_sms: FakeSms) -> None:
    assert client.get("/api/v1/wechat/subscriptions").status_code == 401
    client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    token = client.post(
        "/api/v1/auth/phone", json={"phone": PHONE, "code": fake_sms.last_code(PHONE)}
    ).json()["token"]
    answer = client.post(
        "/api/v1/wechat/subscriptions",
        json={PROGRESS: "accept"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "wechat_not_bound"


def test_consents_follow_the_openid_when_accounts_merge(
    client: TestClient, fake_wechat: FakeWechat, fake_sms: FakeSms, session: Session
) -> None:
    client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    phone_login = client.post("/api/v1/auth/phone", json={"phone": PHONE, "code": fake_sms.last_code(PHONE)})
    kept_id = phone_login.json()["citizen"]["id"]
    headers = login(client, fake_wechat)
    client.post("/api/v1/wechat/subscriptions", json={PROGRESS: "accept"}, headers=headers)

    client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    merged = client.post(
        "/api/v1/auth/wechat/bind-phone",
        json={"phone": PHONE, "code": fake_sms.last_code(PHONE)},
        headers=headers,
    )
    assert merged.status_code == 200, merged.text
    session.expire_all()
    assert consents.available(session, kept_id) == {PROGRESS: 1}
