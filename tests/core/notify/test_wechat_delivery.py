"""Outbox delivery by WeChat subscribe message with SMS fallback, against the local fake WeChat API
and the local fake SMS gateway. The test drives the three steps as the notify job does (in one rolled-
back session here; tests/workers/test_notify_job.py runs the real job in a real worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from core.models import Citizen, DeliveryChannel, DeliveryStatus, OutboxMessage, OutboxStatus
from core.notify import delivery, outbox
from core.notify import repository as outbox_repository
from core.notify.sms import SmsGateway, gateway_from_settings
from core.settings import SubscribeTemplate, get_settings
from core.wechat import consents
from core.wechat.api import WechatApi, WechatCallError
from core.wechat.consents import Choice
from tests.fixtures.fake_sms import FakeSms, running_fake_sms
from tests.fixtures.fake_wechat import FakeWechat, running_fake_wechat

TEMPLATE = "tmpl-progress"
KEYWORDS = ("character_string1", "phrase2", "thing3", "time4")
TEMPLATES = {event: SubscribeTemplate(template_id=TEMPLATE) for event in ("case_registered", "case_closed")}
PHONE = "13900139001"


@pytest.fixture
def wechat() -> Iterator[FakeWechat]:
    with running_fake_wechat() as server:
        server.add_template(TEMPLATE, KEYWORDS)
        server.set_pages("pages/case/detail")
        yield server


@pytest.fixture
def sms() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def gateway(sms: FakeSms) -> SmsGateway:
    return gateway_from_settings(sms.settings_for(get_settings()))


@pytest.fixture
def api(wechat: FakeWechat) -> WechatApi:
    return WechatApi(
        api_base=wechat.api_base,
        app_id=wechat.state.app_id,
        app_secret=wechat.state.app_secret,
        timeout_s=0.5,
        redis=None,
    )


def run(
    session: Session, message_id: int, api: WechatApi, gateway: SmsGateway, *, final: bool = False
) -> OutboxStatus:
    """One run of the notify job: begin, WeChat call, settle, SMS."""
    begun = delivery.begin(session, message_id, templates=TEMPLATES, wechat_enabled=True)
    if begun.wechat is not None:
        error = None
        try:
            attempt = begun.wechat
            api.send_subscribe(
                openid=attempt.openid,
                template_id=attempt.template_id,
                page=attempt.page,
                data=attempt.data,
                state="formal",
            )
        except WechatCallError as exc:
            error = exc
        if delivery.settle_wechat(session, message_id, error, final_attempt=final):
            return status(session, message_id)
    if not begun.done:
        delivery.deliver_sms(session, message_id, gateway=gateway, final_attempt=final)
    return status(session, message_id)


def status(session: Session, message_id: int) -> OutboxStatus:
    message = session.get(OutboxMessage, message_id)
    assert message is not None
    return message.status


def citizen(
    session: Session, wechat: FakeWechat, *, phone: str | None = PHONE, consents_given: int = 1
) -> Citizen:
    _, user = wechat.add_user()
    person = Citizen(phone=phone, openid=user.openid)
    session.add(person)
    session.flush()
    assert person.id is not None
    for _ in range(consents_given):
        consents.record(
            session, citizen_id=person.id, choices={TEMPLATE: Choice.ACCEPT}, template_ids=[TEMPLATE], cap=50
        )
    wechat.grant(user.openid, TEMPLATE, consents_given)
    return person


def message(session: Session, person: Citizen, event: str = "case_registered") -> int:
    assert person.id is not None
    [row] = outbox.record(
        session,
        case_id=None,
        event=event,
        citizen_ids=[person.id],
        payload={"case_no": "20261121A0007", "at": "2026-11-21T02:30:00+00:00"},
    )
    assert row.id is not None
    return row.id


def wechat_row(session: Session, message_id: int) -> DeliveryStatus | None:
    row = outbox_repository.delivery(session, message_id, DeliveryChannel.WECHAT)
    return row.status if row is not None else None


def available(session: Session, person: Citizen) -> int:
    assert person.id is not None
    return consents.available(session, person.id).get(TEMPLATE, 0)


def test_a_consenting_citizen_gets_a_subscribe_message_and_no_sms(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat)
    message_id = message(session, person)
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    [sent] = wechat.sent
    assert sent["touser"] == person.openid
    assert sent["page"] == "pages/case/detail?no=20261121A0007"
    assert sent["data"] == {
        "character_string1": "20261121A0007",
        "phrase2": "已立案",
        "thing3": "已立案，将尽快安排处置",
        "time4": "2026-11-21 10:30",  # local time
    }
    assert sms.messages == []
    assert session.get(OutboxMessage, message_id).channel == "wechat"  # type: ignore[union-attr]
    assert available(session, person) == 0
    # The job running again sends nothing more.
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert len(wechat.sent) == 1


def test_without_a_recorded_consent_the_message_goes_by_sms_without_asking_wechat(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat, consents_given=0)
    message_id = message(session, person)
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert wechat.send_calls == 0
    assert [m.phone for m in sms.messages] == [PHONE]
    assert wechat_row(session, message_id) is DeliveryStatus.NO_CONSENT


def test_43101_falls_back_to_sms_and_zeroes_our_count(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat, consents_given=2)
    assert person.openid is not None
    wechat.grant(person.openid, TEMPLATE, -2)  # used up elsewhere: WeChat knows, we do not
    message_id = message(session, person)
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert wechat_row(session, message_id) is DeliveryStatus.REFUSED
    assert [m.phone for m in sms.messages] == [PHONE]
    assert session.get(OutboxMessage, message_id).channel == "sms"  # type: ignore[union-attr]
    assert available(session, person) == 0


def test_43101_without_a_phone_is_skipped(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat, phone=None)
    assert person.openid is not None
    wechat.grant(person.openid, TEMPLATE, -1)
    message_id = message(session, person)
    assert run(session, message_id, api, gateway) is OutboxStatus.SKIPPED
    assert sms.messages == []


def test_wechat_busy_defers_the_message_gives_the_consent_back_then_sends_once(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat)
    message_id = message(session, person)
    wechat.inject_send(errcode=-1)
    with pytest.raises(delivery.DeliveryDeferred):
        run(session, message_id, api, gateway)
    assert wechat_row(session, message_id) is DeliveryStatus.RETRY
    assert available(session, person) == 1
    assert status(session, message_id) is OutboxStatus.PENDING
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert len(wechat.sent) == 1
    assert sms.messages == []


def test_wechat_busy_on_the_last_attempt_falls_back_to_sms(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat)
    message_id = message(session, person)
    wechat.inject_send(http_status=503)
    assert run(session, message_id, api, gateway, final=True) is OutboxStatus.SENT
    assert wechat_row(session, message_id) is DeliveryStatus.FAILED
    assert [m.phone for m in sms.messages] == [PHONE]


def test_a_run_that_died_mid_call_never_calls_wechat_again(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    """The claim is committed before the call: a retry that finds it cannot know whether WeChat
    delivered, so WeChat is not asked again (at most once) and the citizen is texted instead."""
    person = citizen(session, wechat)
    message_id = message(session, person)
    begun = delivery.begin(session, message_id, templates=TEMPLATES, wechat_enabled=True)
    assert begun.wechat is not None  # … and the worker is killed here, before or after the call
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert wechat.send_calls == 0
    assert wechat_row(session, message_id) is DeliveryStatus.UNKNOWN
    assert [m.phone for m in sms.messages] == [PHONE]


def test_no_answer_in_time_is_not_sent_again_on_wechat(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat)
    message_id = message(session, person)
    api.fetch_access_token()
    wechat.inject_send(delay_s=1.5)
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert wechat_row(session, message_id) is DeliveryStatus.UNKNOWN
    assert len(wechat.sent) == 1
    assert len(sms.messages) == 1
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert wechat.send_calls == 1


def test_a_bad_template_goes_by_sms_and_keeps_the_consent(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat)
    message_id = message(session, person)
    wechat.inject_send(errcode=40037)
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert wechat_row(session, message_id) is DeliveryStatus.FAILED
    assert available(session, person) == 1
    assert len(sms.messages) == 1


def test_an_event_without_a_template_goes_by_sms(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat)
    message_id = message(session, person, event="case_dispatched")
    assert run(session, message_id, api, gateway) is OutboxStatus.SENT
    assert wechat.send_calls == 0
    assert wechat_row(session, message_id) is None
    assert available(session, person) == 1


def test_each_channel_is_recorded_once_per_message(
    session: Session, wechat: FakeWechat, sms: FakeSms, api: WechatApi, gateway: SmsGateway
) -> None:
    person = citizen(session, wechat)
    assert person.openid is not None
    wechat.grant(person.openid, TEMPLATE, -1)
    message_id = message(session, person)
    run(session, message_id, api, gateway)
    rows = outbox_repository.deliveries(session, [message_id])
    assert sorted((row.channel.value, row.status.value) for row in rows) == [
        ("sms", "sent"),
        ("wechat", "refused"),
    ]
