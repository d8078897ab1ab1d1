"""The HTTP SMS adapter against the local fake gateway: signing, error mapping, deduplication."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from core.notify.sms import (
    HttpSmsGateway,
    LogSmsGateway,
    SmsRejected,
    SmsRetryable,
    UnconfiguredSmsGateway,
    gateway_from_settings,
    mask_phone,
    sign,
)
from core.settings import Environment, get_settings
from tests.fixtures.fake_sms import FakeSms, running_fake_sms

PHONE = "13800138000"


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeSms) -> HttpSmsGateway:
    gateway = gateway_from_settings(fake.settings_for(get_settings()))
    assert isinstance(gateway, HttpSmsGateway)
    return gateway


def test_send_is_signed_and_recorded(fake: FakeSms, gateway: HttpSmsGateway) -> None:
    message_id = gateway.send(PHONE, "您反映的问题已办结。", out_id="outbox-1")
    [message] = fake.messages
    assert message.message_id == message_id
    assert (message.phone, message.content, message.out_id) == (PHONE, "您反映的问题已办结。", "outbox-1")
    assert message.sign_name == "智慧城管"


def test_a_repeated_out_id_is_sent_once(fake: FakeSms, gateway: HttpSmsGateway) -> None:
    first = gateway.send(PHONE, "同一条消息", out_id="outbox-7")
    again = gateway.send(PHONE, "同一条消息", out_id="outbox-7")
    assert first == again
    assert len(fake.messages) == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [({"secret": "wrong-secret"}, "signature_invalid"), ({"access_key": "nobody"}, "unknown_access_key")],
)
def test_wrong_credentials_are_permanent(fake: FakeSms, change: dict[str, str], code: str) -> None:
    gateway = HttpSmsGateway(
        api_base=fake.api_base,
        access_key=change.get("access_key", fake.access_key),
        secret=change.get("secret", fake.secret),
        sign_name="智慧城管",
    )
    with pytest.raises(SmsRejected) as refused:
        gateway.send(PHONE, "测试")
    assert refused.value.code == code
    assert not refused.value.retryable
    assert fake.messages == []


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (503, "internal_error", True),
        (500, "internal_error", True),
        (429, "rate_limited", True),
        (400, "invalid_phone", False),
        (400, "content_rejected", False),
    ],
)
def test_gateway_errors_map_to_retryable_or_permanent(
    fake: FakeSms, gateway: HttpSmsGateway, status: int, code: str, retryable: bool
) -> None:
    fake.fail_next(status, code)
    with pytest.raises(SmsRetryable if retryable else SmsRejected) as failed:
        gateway.send(PHONE, "测试")
    assert failed.value.code == code
    assert failed.value.retryable is retryable
    gateway.send(PHONE, "测试")  # the next one goes through
    assert len(fake.messages) == 1


def test_an_unreachable_gateway_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = HttpSmsGateway(api_base=f"http://127.0.0.1:{port}", access_key="k", secret="s", sign_name="x")
    with pytest.raises(SmsRetryable) as failed:
        gateway.send(PHONE, "测试")
    assert failed.value.code == "unreachable"


def test_the_fake_refuses_a_replayed_request(fake: FakeSms) -> None:
    body = json.dumps({"phone": PHONE, "sign_name": "智慧城管", "content": "测试"}).encode()
    headers = {
        "X-Access-Key": fake.access_key,
        "X-Timestamp": str(int(time.time())),
        "X-Nonce": "n-1",
    }
    headers["X-Signature"] = sign(fake.secret, headers["X-Timestamp"], "n-1", body)
    first = httpx.post(f"{fake.api_base}/sms/send", content=body, headers=headers)
    replay = httpx.post(f"{fake.api_base}/sms/send", content=body, headers=headers)
    assert first.status_code == 200
    assert (replay.status_code, replay.json()["code"]) == (401, "nonce_reused")
    assert len(fake.messages) == 1


def test_without_a_gateway_development_logs_and_other_environments_refuse(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = get_settings()
    assert not base.sms.api_base
    refusing = gateway_from_settings(base)
    assert isinstance(refusing, UnconfiguredSmsGateway)
    with pytest.raises(SmsRejected) as refused:
        refusing.send(PHONE, "测试")
    assert refused.value.code == "not_configured"

    development = gateway_from_settings(base.model_copy(update={"environment": Environment.DEVELOPMENT}))
    assert isinstance(development, LogSmsGateway)
    with caplog.at_level(logging.INFO, logger="zhcg.sms"):
        development.send(PHONE, "您的登录验证码为 123456")
    assert "138****8000" in caplog.text
    assert "123456" in caplog.text
    assert PHONE not in caplog.text


def test_mask_phone() -> None:
    assert mask_phone(PHONE) == "138****8000"
    assert mask_phone("") == ""
    assert mask_phone("12345") == "*****"
