"""The order service with an explicit clock: the amount is frozen at creation, across local midnight."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest
from sqlmodel import Session

from core.jobs import pending_jobs
from core.kit.clock import SHANGHAI, to_local, utcnow
from core.models import (
    FineStatus,
    NotificationVerdict,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
)
from core.settings import Settings, get_settings
from payments import gateways
from payments.orders import notify, service, settle
from payments.orders.errors import FineAlreadyPaid, PaymentInProgress
from tests.payments.orders.support import PARTY, Fakes, add_decision, create_order, running_fakes


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def settings(fakes: Fakes) -> Settings:
    return fakes.settings(get_settings())


def alipay_request(decision_no: str) -> service.PaymentRequest:
    return service.PaymentRequest(
        decision_no=decision_no,
        party_name=PARTY,
        channel=PaymentChannel.ALIPAY,
        client=PaymentClient.MINIPROGRAM,
        buyer_open_id="074a-buyer",
    )


def around_midnight() -> tuple[datetime, datetime]:
    """23:59 and 00:01 (Beijing time) of tonight's midnight."""
    today = to_local(utcnow()).date()
    before = datetime.combine(today, time(23, 59), tzinfo=SHANGHAI)
    return before, before + timedelta(minutes=2)


def test_a_new_request_after_midnight_replaces_the_order_with_the_new_late_fee(
    session: Session, settings: Settings
) -> None:
    before, after = around_midnight()
    decision = add_decision(session, today=before.date())  # 5 overdue days today, 6 tomorrow
    first = create_order(
        session,
        request=alipay_request(decision.decision_no),
        now=before,
        settings=settings,
    )
    assert (first.amount_fen, first.late_fee_fen) == (23000, 3000)
    again = create_order(
        session,
        request=alipay_request(decision.decision_no),
        now=before,
        settings=settings,
    )
    assert again.out_trade_no == first.out_trade_no

    second = create_order(
        session,
        request=alipay_request(decision.decision_no),
        now=after,
        settings=settings,
    )
    assert (second.amount_fen, second.late_fee_fen) == (23600, 3600)
    assert second.out_trade_no != first.out_trade_no
    old = session.get(PaymentOrder, _id(session, first.out_trade_no))
    assert old is not None
    assert (old.status, old.amount_fen, old.closed_at) == (PaymentOrderStatus.CLOSED, 23000, after)
    assert [(job.name, dict(job.kwargs)) for job in pending_jobs(session)] == [
        ("payments.close_at_provider", {"order_id": old.id})
    ]


def test_an_order_made_before_midnight_is_paid_at_its_frozen_amount_after_it(
    session: Session, settings: Settings, fakes: Fakes
) -> None:
    before, after = around_midnight()
    decision = add_decision(session, today=before.date())
    order = create_order(
        session,
        request=alipay_request(decision.decision_no),
        client_ip="10.0.0.2",
        now=before,
        settings=settings,
    )
    form = fakes.alipay.pay(order.out_trade_no)
    result = notify.handle_alipay(
        session,
        client=gateways.alipay_client(settings),
        form=form,
        raw_body=b"",
        client_ip="127.0.0.1",
        now=after,
    )
    assert result.verdict is NotificationVerdict.APPLIED
    paid = session.get(PaymentOrder, _id(session, order.out_trade_no))
    assert paid is not None
    assert (paid.status, paid.paid_amount_fen, paid.late_fee_fen) == (PaymentOrderStatus.PAID, 23000, 3000)
    session.refresh(decision)
    assert decision.status is FineStatus.PAID


def _id(session: Session, out_trade_no: str) -> int:
    order = service.repository.by_out_trade_no(session, out_trade_no)
    assert order is not None
    assert order.id is not None
    return order.id


@pytest.mark.parametrize("offset_days", [0, 1, 400])
def test_out_trade_numbers(offset_days: int) -> None:
    now = utcnow() + timedelta(days=offset_days)
    numbers = {service.new_out_trade_no(now) for _ in range(1000)}
    assert len(numbers) == 1000
    for number in numbers:
        assert re.fullmatch(r"FP\d{14}[0-9A-F]{16}", number)
        assert number[2:16] == to_local(now).strftime("%Y%m%d%H%M%S")


def wechat_request(decision_no: str, payer: str) -> service.PaymentRequest:
    return service.PaymentRequest(
        decision_no=decision_no,
        party_name=PARTY,
        channel=PaymentChannel.WECHAT,
        client=PaymentClient.MINIPROGRAM,
        payer_openid=payer,
    )


def test_an_order_paid_off_while_its_provider_call_was_in_flight_is_refused(
    session: Session, settings: Settings
) -> None:
    """Between the two units of work the decision was paid through the other channel: the new order was
    closed as a sibling; finishing it closes it at the provider again and answers fine_already_paid."""
    now = utcnow()
    decision = add_decision(session)
    started = service.start_order(
        session,
        request=wechat_request(decision.decision_no, "o-1"),
        citizen=None,
        client_ip="10.0.0.3",
        now=now,
        settings=settings,
    )
    assert isinstance(started, service.Placement)
    alipay = create_order(session, request=alipay_request(decision.decision_no), now=now, settings=settings)
    paid = settle.lock_order(session, alipay.out_trade_no)
    assert paid is not None
    assert settle.settle_paid(
        session, paid, provider_txn_id="2026-IN-FLIGHT", paid_fen=23000, paid_at=now
    ).outcome is (settle.SettleOutcome.APPLIED)
    placed = service.place_at_provider(started, settings=settings)
    assert placed.prepay_ref
    with pytest.raises(FineAlreadyPaid):
        service.finish_order(session, placed=placed, now=now, settings=settings)
    order = service.repository.by_out_trade_no(session, started.out_trade_no)
    assert order is not None
    assert (order.status, order.prepay_ref) == (PaymentOrderStatus.CLOSED, placed.prepay_ref)
    assert ("payments.close_at_provider", {"order_id": order.id}) in [
        (job.name, dict(job.kwargs)) for job in pending_jobs(session)
    ]


def test_an_order_replaced_while_its_provider_call_was_in_flight_answers_payment_in_progress(
    session: Session, settings: Settings
) -> None:
    now = utcnow()
    decision = add_decision(session)
    started = service.start_order(
        session,
        request=wechat_request(decision.decision_no, "o-1"),
        citizen=None,
        client_ip="10.0.0.4",
        now=now,
        settings=settings,
    )
    assert isinstance(started, service.Placement)
    with pytest.raises(PaymentInProgress):  # the same payer again: the call is in flight
        create_order(session, request=wechat_request(decision.decision_no, "o-1"), now=now, settings=settings)
    other = create_order(
        session, request=wechat_request(decision.decision_no, "o-2"), now=now, settings=settings
    )
    assert other.wechat is not None
    with pytest.raises(PaymentInProgress):
        service.finish_order(
            session, placed=service.place_at_provider(started, settings=settings), now=now, settings=settings
        )
