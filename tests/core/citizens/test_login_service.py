"""Citizen login with one-time SMS codes, through the real HTTP adapter and the local fake gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from core.citizens import repository, service
from core.citizens.errors import (
    CitizenDisabled,
    CodeAttemptsExceeded,
    CodeExpired,
    CodeInvalid,
    InvalidPhone,
    SmsRateLimited,
    SmsRecipientRefused,
    SmsUnavailable,
)
from core.kit.clock import utcnow
from core.models import Citizen, SmsCode
from core.notify.sms import SmsGateway, gateway_from_settings
from core.settings import Settings, get_settings
from tests.fixtures.fake_sms import FakeSms, running_fake_sms

PHONE = "13800138000"


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def settings(fake: FakeSms) -> Settings:
    return fake.settings_for(get_settings())


@pytest.fixture
def gateway(settings: Settings) -> SmsGateway:
    return gateway_from_settings(settings)


def send(
    session: Session,
    settings: Settings,
    gateway: SmsGateway,
    *,
    phone: str = PHONE,
    ip: str = "10.0.0.1",
    now: datetime | None = None,
) -> None:
    service.request_login_code(
        session, settings=settings, gateway=gateway, phone=phone, client_ip=ip, now=now
    )


def stored_code(
    session: Session,
    settings: Settings,
    *,
    code: str,
    phone: str = PHONE,
    sent_at: datetime,
    expires_at: datetime | None = None,
    attempts: int = 0,
    ip: str = "10.0.0.1",
) -> SmsCode:
    """A code row as request_login_code writes it, at any point in time (no sleeping)."""
    return repository.add_code(
        session,
        SmsCode(
            phone=phone,
            code_hash=service.code_hash(settings, phone=phone, purpose=service.LOGIN, code=code),
            expires_at=expires_at or sent_at + timedelta(seconds=settings.auth.sms_code_ttl_s),
            attempts=attempts,
            client_ip=ip,
            created_at=sent_at,
            updated_at=sent_at,
        ),
    )


def test_full_login_flow_registers_the_citizen_once(
    session: Session, settings: Settings, gateway: SmsGateway, fake: FakeSms
) -> None:
    sent = service.request_login_code(
        session, settings=settings, gateway=gateway, phone="+86 138-0013-8000", client_ip="10.0.0.1"
    )
    assert (sent.sent, sent.expires_in, sent.resend_after) == (True, 300, 60)
    [message] = fake.messages_to(PHONE)
    assert message.sign_name == settings.sms.sign_name
    assert "5 分钟内有效" in message.content
    code = fake.last_code(PHONE)

    login = service.login_with_code(session, settings=settings, phone=PHONE, code=code)
    assert login.token_type == "bearer"
    assert login.expires_in == settings.auth.citizen_token_ttl_s
    assert login.citizen.phone_masked == "138****8000"
    citizen = session.get(Citizen, login.citizen.id)
    assert citizen is not None
    assert citizen.phone == PHONE

    later = utcnow() + timedelta(minutes=2)
    send(session, settings, gateway, now=later)
    again = service.login_with_code(
        session, settings=settings, phone=PHONE, code=fake.last_code(PHONE), now=later
    )
    assert again.citizen.id == citizen.id
    assert len(session.exec(select(Citizen).where(Citizen.phone == PHONE)).all()) == 1


def test_only_a_keyed_hash_of_the_code_is_stored(
    session: Session, settings: Settings, gateway: SmsGateway, fake: FakeSms
) -> None:
    send(session, settings, gateway)
    code = fake.last_code(PHONE)
    row = repository.latest_code(session, phone=PHONE)
    assert row is not None
    assert code not in row.code_hash
    assert row.code_hash == service.code_hash(settings, phone=PHONE, purpose="login", code=code)
    other_secret = settings.model_copy(
        update={"app": settings.app.model_copy(update={"secret_key": SecretStr("x" * 32)})}
    )
    assert row.code_hash != service.code_hash(other_secret, phone=PHONE, purpose="login", code=code)
    assert row.client_ip == "10.0.0.1"


def test_a_code_works_once(session: Session, settings: Settings, gateway: SmsGateway, fake: FakeSms) -> None:
    send(session, settings, gateway)
    code = fake.last_code(PHONE)
    service.login_with_code(session, settings=settings, phone=PHONE, code=code)
    with pytest.raises(CodeInvalid):
        service.login_with_code(session, settings=settings, phone=PHONE, code=code)


def test_wrong_codes_are_counted_and_kill_the_code_at_the_limit(
    session: Session, settings: Settings, gateway: SmsGateway, fake: FakeSms
) -> None:
    send(session, settings, gateway)
    code = fake.last_code(PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for remaining in (4, 3, 2, 1):
        with pytest.raises(CodeInvalid) as refused:
            service.login_with_code(session, settings=settings, phone=PHONE, code=wrong)
        assert refused.value.code == "sms_code_invalid"
        assert refused.value.details == {"remaining_attempts": remaining}
    with pytest.raises(CodeAttemptsExceeded):
        service.login_with_code(session, settings=settings, phone=PHONE, code="abc")  # malformed counts too
    with pytest.raises(CodeAttemptsExceeded) as dead:
        service.login_with_code(session, settings=settings, phone=PHONE, code=code)
    assert dead.value.code == "sms_code_attempts_exceeded"
    row = repository.latest_code(session, phone=PHONE)
    assert row is not None
    assert row.attempts == 5
    assert row.consumed_at is None


def test_an_expired_code_is_refused_without_counting(session: Session, settings: Settings) -> None:
    now = utcnow()
    row = stored_code(session, settings, code="123456", sent_at=now - timedelta(minutes=10))
    with pytest.raises(CodeExpired) as refused:
        service.login_with_code(session, settings=settings, phone=PHONE, code="123456", now=now)
    assert refused.value.code == "sms_code_expired"
    assert row.attempts == 0


def test_only_the_latest_code_counts(session: Session, settings: Settings) -> None:
    now = utcnow()
    stored_code(session, settings, code="111111", sent_at=now - timedelta(minutes=3))
    stored_code(session, settings, code="222222", sent_at=now - timedelta(minutes=1))
    with pytest.raises(CodeInvalid):
        service.login_with_code(session, settings=settings, phone=PHONE, code="111111", now=now)
    login = service.login_with_code(session, settings=settings, phone=PHONE, code="222222", now=now)
    assert login.citizen.phone_masked == "138****8000"


def test_no_code_sent_is_an_invalid_code(session: Session, settings: Settings) -> None:
    with pytest.raises(CodeInvalid) as refused:
        service.login_with_code(session, settings=settings, phone=PHONE, code="123456")
    assert refused.value.details == {}


def test_resend_too_soon_is_rate_limited(
    session: Session, settings: Settings, gateway: SmsGateway, fake: FakeSms
) -> None:
    now = utcnow()
    send(session, settings, gateway, now=now)
    with pytest.raises(SmsRateLimited) as limited:
        send(session, settings, gateway, now=now + timedelta(seconds=45))
    assert limited.value.code == "sms_rate_limited"
    assert limited.value.details == {"retry_after": 15, "reason": "resend_interval"}
    assert "15 秒" in limited.value.message
    send(session, settings, gateway, now=now + timedelta(seconds=60))
    assert len(fake.messages_to(PHONE)) == 2


def test_codes_per_phone_per_hour(
    session: Session, settings: Settings, gateway: SmsGateway, fake: FakeSms
) -> None:
    start = utcnow()
    for minute in range(0, 50, 10):  # 5 codes, 10 minutes apart: the hourly limit
        send(session, settings, gateway, now=start + timedelta(minutes=minute), ip=f"10.0.0.{minute}")
    with pytest.raises(SmsRateLimited) as limited:
        send(session, settings, gateway, now=start + timedelta(minutes=55))
    assert limited.value.details == {"retry_after": 5 * 60, "reason": "phone_hourly"}
    assert "5 分钟" in limited.value.message
    send(session, settings, gateway, now=start + timedelta(minutes=60, seconds=1))
    assert len(fake.messages_to(PHONE)) == 6


def test_codes_per_client_address_per_hour(session: Session, settings: Settings, gateway: SmsGateway) -> None:
    limited_settings = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"sms_codes_per_ip_per_hour": 3})}
    )
    now = utcnow()
    for n in range(3):
        send(session, limited_settings, gateway, phone=f"1390000000{n}", ip="192.0.2.7", now=now)
    with pytest.raises(SmsRateLimited) as limited:
        send(session, limited_settings, gateway, phone="13900000009", ip="192.0.2.7", now=now)
    assert limited.value.details["reason"] == "ip_hourly"
    send(session, limited_settings, gateway, phone="13900000009", ip="192.0.2.8", now=now)


@pytest.mark.parametrize(
    "phone",
    [
        "12800138000",
        "1380013800",
        "138001380001",
        "abc",
        "",
        "１３８００１３８０００",
        "١٣٨٠٠١٣٨٠٠٠",
        "+1 13800138000",
    ],
)
def test_invalid_phone(session: Session, settings: Settings, gateway: SmsGateway, phone: str) -> None:
    with pytest.raises(InvalidPhone) as refused:
        send(session, settings, gateway, phone=phone)
    assert refused.value.code == "invalid_phone"
    with pytest.raises(InvalidPhone):
        service.login_with_code(session, settings=settings, phone=phone, code="123456")


def test_a_failed_send_stores_nothing(
    session: Session, settings: Settings, gateway: SmsGateway, fake: FakeSms
) -> None:
    # Each error rolls the request's unit of work back (here: the test's savepoint), so the unsent
    # code neither exists nor counts against the limits.
    fake.fail_next(503)
    with pytest.raises(SmsUnavailable):
        send(session, settings, gateway)
    session.rollback()
    fake.fail_next(429, "rate_limited")
    with pytest.raises(SmsRateLimited) as limited:
        send(session, settings, gateway)
    assert limited.value.details["reason"] == "gateway"
    session.rollback()
    fake.reject_phone(PHONE)
    with pytest.raises(SmsRecipientRefused) as refused:
        send(session, settings, gateway)
    assert refused.value.code == "invalid_phone"
    session.rollback()
    assert repository.latest_code(session, phone=PHONE) is None
    assert fake.messages == []


def test_unconfigured_gateway_outside_development_is_unavailable(session: Session) -> None:
    settings = get_settings()
    assert not settings.sms.api_base
    with pytest.raises(SmsUnavailable):
        send(session, settings, gateway_from_settings(settings))


def test_disabled_citizen_cannot_log_in(session: Session, settings: Settings) -> None:
    session.add(Citizen(phone=PHONE, active=False))
    session.flush()
    now = utcnow()
    stored_code(session, settings, code="123456", sent_at=now)
    with pytest.raises(CitizenDisabled):
        service.login_with_code(session, settings=settings, phone=PHONE, code="123456", now=now)
