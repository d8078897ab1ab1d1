"""Retrying a FAILED refund under a new number, late answers about the old number, and telling the
citizen when the money went back (the outbox message ``fine_refunded`` and its SMS text)."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.jobs import configure_jobs, pending_jobs
from core.kit.clock import utcnow
from core.models import (
    Citizen,
    OutboxMessage,
    PaymentChannel,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    PenaltyDecision,
    RefundStatus,
)
from core.notify.templates import EVENTS, TemplateError, render
from core.settings import Settings
from payments.refunds import provider, service
from payments.refunds.errors import RefundNotFound
from payments.sandbox.alipay import FakeAlipay
from payments.sandbox.wechatpay import FakeWechatPay
from tests.fixtures.worker import run_worker
from tests.payments.refunds.conftest import Committed, pay_at_provider, provider_env, record_order


def _citizen(session: Session) -> int:
    citizen = Citizen(phone=f"137{secrets.randbelow(10**8):08d}")
    session.add(citizen)
    session.flush()
    assert citizen.id is not None
    return citizen.id


def _order(
    session: Session, *, channel: PaymentChannel = PaymentChannel.WECHAT, citizen_id: int | None = None
) -> PaymentOrder:
    order = record_order(session, channel, f"R{secrets.token_hex(12)}", f"4200{secrets.token_hex(8)}", 20000)
    order.citizen_id = citizen_id
    session.add(order)
    session.flush()
    return order


def _failed(
    session: Session, failure: str = "wechat:CLOSED", *, citizen_id: int | None = None
) -> PaymentRefund:
    order = _order(session, citizen_id=citizen_id)
    assert order.id is not None
    refund = service.request_refund(
        session, order_id=order.id, reason="决定撤销", staff_id=None, now=utcnow()
    )
    assert refund.id is not None
    outcome = service.RefundOutcome(RefundStatus.FAILED, provider_refund_id="50300001", failure=failure)
    assert service.apply_outcome(session, refund.id, outcome, now=utcnow())
    assert refund.status is RefundStatus.FAILED
    return refund


def _refund_jobs(session: Session) -> list[dict[str, object]]:
    return [dict(job.kwargs) for job in pending_jobs(session) if job.name == "payments.refund"]


def _messages(session: Session, citizen_id: int) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(col(OutboxMessage.citizen_id) == citizen_id)
    return list(session.exec(query).all())


# --------------------------------------------------------------------------- retry


def test_a_failed_refund_is_sent_again_under_a_new_number(session: Session) -> None:
    refund = _failed(session, "wechat:CLOSED")
    assert refund.id is not None
    old_no = refund.out_refund_no
    assert refund.finished_at is not None
    later = utcnow() + timedelta(minutes=5)

    result = service.retry_refund(session, refund_id=refund.id, staff_id=None, now=later)

    assert result.retried
    assert result.refund is refund
    assert (result.previous_out_refund_no, result.previous_failure) == (old_no, "wechat:CLOSED")
    assert refund.status is RefundStatus.REQUESTED
    assert refund.out_refund_no == f"{old_no}_2"  # the same base: the old number stays findable
    assert refund.failure == f"上次失败：{old_no} wechat:CLOSED"
    assert refund.finished_at is None
    assert refund.provider_refund_id == ""  # the old number's id at the provider
    assert refund.updated_at == later
    assert refund.amount_fen == 20000  # still the full payment
    assert _refund_jobs(session)[-1] == {"refund_id": refund.id}
    call = service.refund_call(session, refund.id)
    assert call is not None
    assert call.out_refund_no == refund.out_refund_no


def test_every_earlier_number_of_a_refund_is_recognised(session: Session) -> None:
    refund = _failed(session, "wechat:CLOSED")
    assert refund.id is not None
    first = refund.out_refund_no
    assert len(first) == 26
    assert not service.is_earlier_number(refund, first)  # the current number is not an earlier one
    service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    service.apply_outcome(
        session, refund.id, service.RefundOutcome(RefundStatus.FAILED, failure="wechat:CLOSED"), now=utcnow()
    )
    service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    assert refund.out_refund_no == f"{first}_3"
    assert refund.failure == f"上次失败：{first}_2 wechat:CLOSED"
    assert [service.is_earlier_number(refund, number) for number in (first, f"{first}_2")] == [True, True]
    for other in (f"{first}_3", f"{first}_4", f"{first}_1", f"{first}_x", f"{first[:-1]}Z", "RFHAND0001", ""):
        assert not service.is_earlier_number(refund, other), other
    assert service.next_out_refund_no("RF-OLD-0001") == "RF-OLD-0001_2"  # any number gets a next attempt


def test_a_double_click_retries_once(session: Session) -> None:
    refund = _failed(session)
    assert refund.id is not None
    first = service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    jobs = len(_refund_jobs(session))
    again = service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    assert first.retried
    assert not again.retried
    assert again.refund.out_refund_no == first.refund.out_refund_no  # no new number
    assert len(_refund_jobs(session)) == jobs  # no new job


@pytest.mark.parametrize("status", [RefundStatus.REQUESTED, RefundStatus.PROCESSING, RefundStatus.SUCCEEDED])
def test_only_a_failed_refund_is_retried(session: Session, status: RefundStatus) -> None:
    order = _order(session)
    assert order.id is not None
    refund = service.request_refund(session, order_id=order.id, reason="撤销", staff_id=None, now=utcnow())
    assert refund.id is not None
    if status is not RefundStatus.REQUESTED:
        service.apply_outcome(session, refund.id, service.RefundOutcome(status), now=utcnow())
    number, jobs = refund.out_refund_no, len(_refund_jobs(session))
    result = service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    assert not result.retried
    assert (refund.status, refund.out_refund_no) == (status, number)
    assert len(_refund_jobs(session)) == jobs
    assert not service.retryable(refund)


def test_a_wechat_abnormal_refund_is_not_retried(session: Session) -> None:
    refund = _failed(session, "wechat:ABNORMAL")
    assert refund.id is not None
    number = refund.out_refund_no
    assert not service.retryable(refund)
    with pytest.raises(service.RefundAbnormal) as caught:
        service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    assert caught.value.code == "refund_abnormal"
    assert caught.value.details["order_id"] == refund.order_id
    assert (refund.status, refund.out_refund_no) == (RefundStatus.FAILED, number)


def test_unknown_refunds_are_not_found(session: Session) -> None:
    for refund_id in (0, 10**9, 10**20):
        with pytest.raises(RefundNotFound):
            service.retry_refund(session, refund_id=refund_id, staff_id=None, now=utcnow())


def test_late_answers_about_the_old_number(session: Session) -> None:
    refund = _failed(session, "wechat:CLOSED")
    assert refund.id is not None
    old_no = refund.out_refund_no
    service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    # A failure or progress about the old number does not touch the new attempt…
    for status in (RefundStatus.FAILED, RefundStatus.PROCESSING):
        stale = service.RefundOutcome(status, provider_refund_id="old", failure="x", out_refund_no=old_no)
        assert not service.apply_outcome(session, refund.id, stale, now=utcnow())
        assert (refund.status, refund.provider_refund_id) == (RefundStatus.REQUESTED, "")
    # …an answer about the current number does…
    current = service.RefundOutcome(
        RefundStatus.PROCESSING, provider_refund_id="50300002", out_refund_no=refund.out_refund_no
    )
    assert service.apply_outcome(session, refund.id, current, now=utcnow())
    assert (refund.status, refund.provider_refund_id) == (RefundStatus.PROCESSING, "50300002")
    # …and the word that money went back counts whatever the number.
    gone_back = service.RefundOutcome(RefundStatus.SUCCEEDED, out_refund_no=old_no)
    assert service.apply_outcome(session, refund.id, gone_back, now=utcnow())
    assert refund.status is RefundStatus.SUCCEEDED
    assert session.get_one(PaymentOrder, refund.order_id).status is PaymentOrderStatus.REFUNDED


@pytest.mark.parametrize("channel", [PaymentChannel.WECHAT, PaymentChannel.ALIPAY])
def test_a_refund_refused_by_the_provider_succeeds_when_retried(
    session: Session, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay, channel: PaymentChannel
) -> None:
    out_trade_no, txn_id = pay_at_provider(gateways, channel, wechat, alipay, 15000)
    order = record_order(session, channel, out_trade_no, txn_id, 15000)
    assert order.id is not None
    refund = service.request_refund(
        session, order_id=order.id, reason="决定撤销", staff_id=None, now=utcnow()
    )
    assert refund.id is not None
    call = service.refund_call(session, refund.id)
    assert call is not None
    wechat.state.refund_refusal = (403, "NOT_ENOUGH", "基本账户余额不足")
    alipay.state.refund_refusal = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    try:
        refused = provider.send(gateways, call)
    finally:
        wechat.state.refund_refusal = None
        alipay.state.refund_refusal = None
    assert refused.out_refund_no == refund.out_refund_no
    service.apply_outcome(session, refund.id, refused, now=utcnow())
    assert refund.status is RefundStatus.FAILED

    service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    retried = service.refund_call(session, refund.id)
    assert retried is not None
    assert retried.out_refund_no != call.out_refund_no
    outcome = provider.send(gateways, retried)
    service.apply_outcome(session, refund.id, outcome, now=utcnow())
    if channel is PaymentChannel.WECHAT:
        assert refund.status is RefundStatus.PROCESSING
        wechat.finish_refund(retried.out_refund_no, send=False)
        service.apply_outcome(session, refund.id, provider.query(gateways, retried), now=utcnow())
    else:
        assert alipay.refunded_fen(out_trade_no) == 15000  # once
    assert refund.status is RefundStatus.SUCCEEDED
    assert session.get_one(PaymentOrder, order.id).status is PaymentOrderStatus.REFUNDED


def test_retry_end_to_end_with_a_real_worker(
    engine: Engine, rq_settings: Settings, gateways: Settings, committed: Committed, alipay: FakeAlipay
) -> None:
    """Refused by Alipay in the job, retried by staff, refunded by the next job under the new number."""
    order_id = committed.paid_order(PaymentChannel.ALIPAY, 7000)
    configure_jobs(rq_settings)
    with session_scope(engine) as session:
        refund = service.request_refund(
            session, order_id=order_id, reason="决定撤销", staff_id=None, now=utcnow()
        )
        refund_id, old_no = refund.id, refund.out_refund_no
    assert refund_id is not None
    alipay.state.refund_refusal = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    try:
        result = run_worker(rq_settings, provider_env(gateways))
    finally:
        alipay.state.refund_refusal = None
    assert result.returncode == 0, result.stderr[-3000:]
    with session_scope(engine) as session:
        failed = session.get_one(PaymentRefund, refund_id)
        assert failed.status is RefundStatus.FAILED
        retried = service.retry_refund(session, refund_id=refund_id, staff_id=None, now=utcnow())
        assert retried.retried
        new_no = retried.refund.out_refund_no
    result = run_worker(rq_settings, provider_env(gateways))  # the job was sent after the commit
    assert result.returncode == 0, result.stderr[-3000:]
    with session_scope(engine) as session:
        done = session.get_one(PaymentRefund, refund_id)
        order = session.get_one(PaymentOrder, order_id)
        assert (done.status, done.out_refund_no) == (RefundStatus.SUCCEEDED, new_no)
        assert done.failure == ""
        assert order.status is PaymentOrderStatus.REFUNDED
        out_trade_no = order.out_trade_no
    assert alipay.refund(out_trade_no, new_no).refund_amount == "70.00"
    assert alipay.refunded_fen(out_trade_no) == 7000  # once, under the new number only
    assert new_no != old_no


# --------------------------------------------------------------------------- telling the citizen


def test_the_citizen_is_told_once_when_the_money_went_back(session: Session) -> None:
    citizen_id = _citizen(session)
    refund = _failed(session, citizen_id=citizen_id)
    assert refund.id is not None
    assert _messages(session, citizen_id) == []  # a failure tells nobody
    service.retry_refund(session, refund_id=refund.id, staff_id=None, now=utcnow())
    done = service.RefundOutcome(RefundStatus.SUCCEEDED, out_refund_no=refund.out_refund_no)
    assert service.apply_outcome(session, refund.id, done, now=utcnow())
    assert not service.apply_outcome(session, refund.id, done, now=utcnow())  # a duplicate answer

    [message] = _messages(session, citizen_id)
    decision = session.get_one(PenaltyDecision, session.get_one(PaymentOrder, refund.order_id).decision_id)
    assert message.event == "fine_refunded"
    assert message.case_id == decision.case_id
    assert json.loads(message.payload) == {"decision_no": decision.decision_no, "amount_fen": 20000}
    assert {"message_id": message.id} in [
        dict(job.kwargs) for job in pending_jobs(session) if job.name == "notify.deliver"
    ]
    text = render(message.event, json.loads(message.payload))
    assert decision.decision_no in text
    assert "200.00元" in text


def test_no_message_without_a_known_citizen(session: Session) -> None:
    order = _order(session)
    assert order.id is not None
    refund = service.request_refund(session, order_id=order.id, reason="撤销", staff_id=None, now=utcnow())
    assert refund.id is not None
    before = session.exec(select(OutboxMessage.id)).all()
    service.apply_outcome(session, refund.id, service.RefundOutcome(RefundStatus.SUCCEEDED), now=utcnow())
    assert refund.status is RefundStatus.SUCCEEDED
    assert session.exec(select(OutboxMessage.id)).all() == before


def test_fine_refunded_text() -> None:
    text = render("fine_refunded", {"decision_no": "赣城管罚决字〔2026〕第00000001号", "amount_fen": 23005})
    assert "赣城管罚决字〔2026〕第00000001号" in text
    assert "230.05元" in text
    assert "原路退回" in text
    assert len(text) <= 70  # one SMS segment
    assert "已退款，" in render("fine_refunded", {"decision_no": "A-1"})
    assert "fine_refunded" not in EVENTS  # not a case event
    with pytest.raises(TemplateError):
        render("fine_refunded", {"amount_fen": 100})
