"""Delivering an order's pushes to the fake 12345 platform through the real adapter: in order, one head
at a time, retried until acknowledged, a refusal blocks the order until it is re-armed."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.cases.workflow import Action
from core.exchange import delivery, pushes
from core.exchange.client import ExchangeCallError, Gov12345Client, client_from_settings
from core.exchange.repository import pushes_of_order
from core.kit.clock import utcnow
from core.models import ExchangeOrder, ExchangePushStatus, StaffRole
from core.settings import Settings, get_settings
from tests.core.exchange.conftest import act, receive
from tests.fixtures.cases import City
from tests.fixtures.fake_12345 import Fake12345


def three_pushes(city: City, settings: Settings) -> int:
    """A 12345 case accepted, dispatched and urged: three pending pushes; the order's id."""
    case = receive(city, settings)
    act(city, case, StaffRole.OPERATOR, Action.ACCEPT)
    act(city, case, StaffRole.OPERATOR, Action.REGISTER, register_standard_id=city.manhole_loose.id)
    act(city, case, StaffRole.DISPATCHER, Action.DISPATCH, department_code=city.municipal.code)
    act(city, case, StaffRole.LEADER, Action.URGE)
    [order_id] = pushes.collect(city.session, now=utcnow()).orders
    return order_id


def try_once(session: Session, client: Gov12345Client, order_id: int) -> ExchangePushStatus | None:
    """One try as the job makes it (without its commits: the test transaction is rolled back)."""
    attempt = delivery.begin(session, order_id, now=utcnow())
    if attempt is None:
        return None
    error: ExchangeCallError | None = None
    try:
        client.push(attempt.body)
    except ExchangeCallError as exc:
        error = exc
    return delivery.settle(session, attempt.push_id, error, now=utcnow())


def statuses(session: Session, order_id: int) -> list[tuple[str, ExchangePushStatus, int]]:
    return [(push.event, push.status, push.attempts) for push in pushes_of_order(session, order_id)]


@pytest.fixture
def client(exchange_settings: Settings) -> Gov12345Client:
    adapter = client_from_settings(exchange_settings)
    assert adapter is not None
    return adapter


def test_pushes_are_acknowledged_in_order(
    city: City, exchange_settings: Settings, fake: Fake12345, client: Gov12345Client
) -> None:
    order_id = three_pushes(city, exchange_settings)
    while try_once(city.session, client, order_id) is not None:
        pass
    assert [push["event"] for push in fake.pushes] == ["accept", "dispatch", "urge"]
    assert [push["push_id"] for push in fake.pushes] == [
        f"zhcg-{push.id}" for push in pushes_of_order(city.session, order_id)
    ]
    assert all(status is ExchangePushStatus.SENT for _, status, _ in statuses(city.session, order_id))
    assert all(push.acknowledged_at is not None for push in pushes_of_order(city.session, order_id))
    assert fake.refused == []


def test_a_failing_head_holds_back_the_later_pushes_until_acknowledged(
    city: City, exchange_settings: Settings, fake: Fake12345, client: Gov12345Client
) -> None:
    order_id = three_pushes(city, exchange_settings)
    fake.fail_next(503, times=2)
    assert try_once(city.session, client, order_id) is ExchangePushStatus.PENDING
    assert try_once(city.session, client, order_id) is ExchangePushStatus.PENDING
    assert statuses(city.session, order_id) == [
        ("accept", ExchangePushStatus.PENDING, 2),
        ("dispatch", ExchangePushStatus.PENDING, 0),
        ("urge", ExchangePushStatus.PENDING, 0),
    ]
    head = pushes_of_order(city.session, order_id)[0]
    assert "503" in head.last_error
    assert head.next_attempt_at is not None
    assert head.next_attempt_at > utcnow()
    assert fake.pushes == []
    assert try_once(city.session, client, order_id) is ExchangePushStatus.SENT
    assert [push["event"] for push in fake.pushes] == ["accept"]
    assert pushes_of_order(city.session, order_id)[0].last_error == ""


def test_a_refused_push_blocks_the_order_until_rearmed(
    city: City, exchange_settings: Settings, fake: Fake12345, client: Gov12345Client
) -> None:
    order_id = three_pushes(city, exchange_settings)
    fake.fail_next(422, "stage_invalid")
    assert try_once(city.session, client, order_id) is ExchangePushStatus.FAILED
    assert try_once(city.session, client, order_id) is None  # 派单 never overtakes the refused 受理
    assert fake.pushes == []
    head = pushes_of_order(city.session, order_id)[0]
    assert "stage_invalid" in head.last_error
    order = city.session.get(ExchangeOrder, order_id)
    assert order is not None
    assert pushes.rearm(city.session, order_no=order.order_no, now=utcnow()) == head.id
    while try_once(city.session, client, order_id) is not None:
        pass
    assert [push["event"] for push in fake.pushes] == ["accept", "dispatch", "urge"]


def test_timeouts_bad_signatures_and_unreachable_platforms_are_retryable(
    exchange_settings: Settings, fake: Fake12345
) -> None:
    body = {
        "order_no": "GD1",
        "case_no": "X",
        "seq": 1,
        "event": "accept",
        "stage": "受理",
        "occurred_at": "2026-11-21T10:00:00+08:00",
        "push_id": "zhcg-1",
    }
    impatient = Gov12345Client(base_url=fake.base_url, app_id=fake.app_id, secret=fake.secret, timeout_s=0.3)
    fake.stall_next(1.5)
    with pytest.raises(ExchangeCallError) as timeout:
        impatient.push(body)
    assert (timeout.value.code, timeout.value.retryable) == ("unreachable", True)

    forger = Gov12345Client(base_url=fake.base_url, app_id=fake.app_id, secret="wrong-secret")
    with pytest.raises(ExchangeCallError) as unsigned:
        forger.push(body)
    assert unsigned.value.retryable
    assert (401, "signature_invalid") in fake.refused

    nowhere = Gov12345Client(base_url="http://127.0.0.1:9", app_id="a", secret="b", timeout_s=1)
    with pytest.raises(ExchangeCallError) as unreachable:
        nowhere.push(body)
    assert unreachable.value.retryable

    Gov12345Client(base_url=fake.base_url, app_id=fake.app_id, secret=fake.secret).push(body)
    Gov12345Client(base_url=fake.base_url, app_id=fake.app_id, secret=fake.secret).push(body)  # a repeat
    assert len(fake.pushes) == 1  # acknowledged twice, recorded once


def test_without_configuration_there_is_no_client() -> None:
    assert client_from_settings(get_settings()) is None
