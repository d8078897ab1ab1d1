"""Delivering outbox messages: once, skipped without a phone, retried on gateway trouble."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from core.models import Citizen, OutboxMessage, OutboxStatus
from core.notify import outbox
from core.notify.delivery import MAX_ATTEMPTS, DeliveryDeferred, deliver
from core.notify.sms import SmsGateway, gateway_from_settings
from core.settings import get_settings
from tests.fixtures.fake_sms import FakeSms, running_fake_sms

PHONE = "13900139000"


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeSms) -> SmsGateway:
    return gateway_from_settings(fake.settings_for(get_settings()))


def message_for(
    session: Session,
    *,
    phone: str | None = PHONE,
    event: str = "case_closed",
    payload: dict[str, str] | None = None,
) -> OutboxMessage:
    citizen = Citizen(phone=phone)
    session.add(citizen)
    session.flush()
    assert citizen.id is not None
    [message] = outbox.record(
        session,
        case_id=None,
        event=event,
        citizen_ids=[citizen.id],
        payload={"case_no": "20261121A0001"} if payload is None else payload,
    )
    assert message.id is not None
    return message


def test_delivers_once_even_if_the_job_runs_twice(
    session: Session, gateway: SmsGateway, fake: FakeSms
) -> None:
    message = message_for(session)
    assert message.id is not None
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.SENT
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.SENT
    [sms] = fake.messages
    assert sms.phone == PHONE
    assert "20261121A0001" in sms.content
    assert "已办结" in sms.content
    assert sms.out_id == f"outbox-{message.id}"
    assert (message.status, message.channel, message.attempts) == (OutboxStatus.SENT, "sms", 1)
    assert message.sent_at is not None
    assert fake.requests == 1


def test_no_phone_is_skipped(session: Session, gateway: SmsGateway, fake: FakeSms) -> None:
    message = message_for(session, phone=None)
    assert message.id is not None
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.SKIPPED
    assert message.status is OutboxStatus.SKIPPED
    assert message.channel == ""
    assert fake.requests == 0


def test_gateway_trouble_is_retried_then_succeeds(
    session: Session, gateway: SmsGateway, fake: FakeSms
) -> None:
    message = message_for(session)
    assert message.id is not None
    fake.fail_next(503)
    with pytest.raises(DeliveryDeferred):
        deliver(session, message.id, gateway=gateway)
    assert message.status is OutboxStatus.PENDING
    assert message.attempts == 1
    assert "internal_error" in message.last_error
    fake.fail_next(429, "rate_limited")
    with pytest.raises(DeliveryDeferred):
        deliver(session, message.id, gateway=gateway)
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.SENT
    assert (message.attempts, message.last_error) == (3, "")
    assert len(fake.messages) == 1


def test_the_last_attempt_marks_failed(session: Session, gateway: SmsGateway, fake: FakeSms) -> None:
    message = message_for(session)
    assert message.id is not None
    fake.fail_next(503)
    assert deliver(session, message.id, gateway=gateway, final_attempt=True) is OutboxStatus.FAILED
    assert message.status is OutboxStatus.FAILED
    assert "internal_error" in message.last_error
    # A failed message stays failed: no later run sends it.
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.FAILED
    assert fake.messages == []


def test_attempts_are_capped_by_the_job_retries(session: Session, gateway: SmsGateway, fake: FakeSms) -> None:
    message = message_for(session)
    assert message.id is not None
    fake.fail_next(503, times=MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(DeliveryDeferred):
            deliver(session, message.id, gateway=gateway)
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.FAILED
    assert message.attempts == MAX_ATTEMPTS


def test_a_refused_number_fails_at_once(session: Session, gateway: SmsGateway, fake: FakeSms) -> None:
    message = message_for(session)
    assert message.id is not None
    fake.reject_phone(PHONE)
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.FAILED
    assert "invalid_phone" in message.last_error


@pytest.mark.parametrize(
    ("event", "payload"), [("no_such_event", {"case_no": "N1"}), ("case_closed", {"reply": "没有案件编号"})]
)
def test_an_unwritable_message_fails_without_sending(
    session: Session, gateway: SmsGateway, fake: FakeSms, event: str, payload: dict[str, str]
) -> None:
    message = message_for(session, event=event, payload=payload)
    assert message.id is not None
    assert deliver(session, message.id, gateway=gateway) is OutboxStatus.FAILED
    assert message.last_error.startswith("template:")
    assert fake.requests == 0


def test_an_unknown_message_is_ignored(session: Session, gateway: SmsGateway) -> None:
    assert deliver(session, 987_654_321, gateway=gateway) is None
