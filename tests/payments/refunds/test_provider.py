"""Refunds sent to and asked of the local fake gateways, and the poll for unfinished refunds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from core.kit.clock import utcnow
from core.models import PaymentChannel, PaymentOrder, PaymentOrderStatus, PaymentRefund, RefundStatus
from core.settings import Settings
from payments.providers import ProviderError
from payments.refunds import provider, service
from payments.refunds.poll import UnitOfWork, poll_processing
from payments.sandbox.alipay import FakeAlipay
from payments.sandbox.wechatpay import FakeWechatPay
from tests.payments.refunds.conftest import NOTIFY_BASE, pay_at_provider, record_order
from tests.payments.refunds.dbfault import allow_updates, fail_updates


def _refund(
    session: Session,
    settings: Settings,
    channel: PaymentChannel,
    wechat: FakeWechatPay,
    alipay: FakeAlipay,
    amount_fen: int = 20000,
) -> PaymentRefund:
    out_trade_no, txn_id = pay_at_provider(settings, channel, wechat, alipay, amount_fen)
    order = record_order(session, channel, out_trade_no, txn_id, amount_fen)
    assert order.id is not None
    return service.request_refund(session, order_id=order.id, reason="决定撤销", staff_id=None, now=utcnow())


def _call(session: Session, refund: PaymentRefund) -> service.RefundCall:
    assert refund.id is not None
    call = service.refund_call(session, refund.id)
    assert call is not None
    return call


def test_wechat_refund_is_processing_then_succeeds(
    session: Session, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay
) -> None:
    refund = _refund(session, gateways, PaymentChannel.WECHAT, wechat, alipay)
    call = _call(session, refund)
    outcome = provider.send(gateways, call)
    assert outcome.status is RefundStatus.PROCESSING
    assert outcome.provider_refund_id == wechat.refund(refund.out_refund_no).refund_id
    sent = wechat.refund(refund.out_refund_no)
    assert sent.notify_url == f"{NOTIFY_BASE}/wechat/refund"
    assert (sent.refund_fen, sent.total_fen) == (20000, 20000)
    assert (
        provider.send(gateways, call).provider_refund_id == outcome.provider_refund_id
    )  # a retry: same refund
    assert provider.query(gateways, call).status is RefundStatus.PROCESSING
    wechat.finish_refund(refund.out_refund_no, send=False)
    done = provider.query(gateways, call)
    assert done.status is RefundStatus.SUCCEEDED
    assert done.finished_at is not None


def test_alipay_refund_is_synchronous_and_a_retry_is_confirmed_by_a_query(
    session: Session, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay
) -> None:
    refund = _refund(session, gateways, PaymentChannel.ALIPAY, wechat, alipay, 12345)
    call = _call(session, refund)
    assert provider.query(gateways, call).status is RefundStatus.REQUESTED  # Alipay does not know it yet
    first = provider.send(gateways, call)
    assert first.status is RefundStatus.SUCCEEDED
    assert alipay.refund(call.out_trade_no, refund.out_refund_no).refund_amount == "123.45"
    again = provider.send(gateways, call)  # fund_change N, then the query confirms
    assert again.status is RefundStatus.SUCCEEDED
    assert provider.query(gateways, call).status is RefundStatus.SUCCEEDED
    assert alipay.refunded_fen(call.out_trade_no) == 12345  # once


@pytest.mark.parametrize("channel", [PaymentChannel.WECHAT, PaymentChannel.ALIPAY])
def test_definite_refusals_fail_the_refund_and_unreachable_providers_raise(
    session: Session, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay, channel: PaymentChannel
) -> None:
    refund = _refund(session, gateways, channel, wechat, alipay)
    call = _call(session, refund)
    wechat.state.refund_refusal = (403, "NOT_ENOUGH", "基本账户余额不足")
    alipay.state.refund_refusal = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    try:
        outcome = provider.send(gateways, call)
    finally:
        wechat.state.refund_refusal = None
        alipay.state.refund_refusal = None
    assert outcome.status is RefundStatus.FAILED
    assert outcome.failure.startswith(f"{channel.value}:")
    assert "NOT_ENOUGH" in outcome.failure

    unreachable = gateways.model_copy(
        update={
            "wechatpay": gateways.wechatpay.model_copy(update={"api_base": "http://127.0.0.1:9"}),
            "alipay": gateways.alipay.model_copy(update={"gateway": "http://127.0.0.1:9/gateway.do"}),
        }
    )
    with pytest.raises(ProviderError) as caught:
        provider.send(unreachable, call)
    assert caught.value.code == "provider_unavailable"


def test_poll_finishes_processing_refunds_and_sends_lost_ones(
    session: Session, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay, uow: UnitOfWork
) -> None:
    now = utcnow()
    processing = _refund(session, gateways, PaymentChannel.WECHAT, wechat, alipay)
    assert processing.id is not None
    service.apply_outcome(
        session, processing.id, provider.send(gateways, _call(session, processing)), now=now
    )
    assert processing.status is RefundStatus.PROCESSING
    wechat.finish_refund(processing.out_refund_no, send=False)  # its notification is lost
    lost_wechat = _refund(session, gateways, PaymentChannel.WECHAT, wechat, alipay)  # its job was lost
    lost_alipay = _refund(session, gateways, PaymentChannel.ALIPAY, wechat, alipay)
    young = _refund(session, gateways, PaymentChannel.ALIPAY, wechat, alipay)
    later = now + timedelta(seconds=gateways.payments.poll_after_s + 1)
    young.updated_at = later
    session.add(young)
    session.flush()

    result = poll_processing(gateways, unit_of_work=uow, now=later)
    assert result.errors == 0
    assert processing.status is RefundStatus.SUCCEEDED
    assert session.get_one(PaymentOrder, processing.order_id).status is PaymentOrderStatus.REFUNDED
    assert lost_wechat.status is RefundStatus.PROCESSING  # sent now
    assert wechat.refund(lost_wechat.out_refund_no).status == "PROCESSING"
    assert lost_alipay.status is RefundStatus.SUCCEEDED
    assert young.status is RefundStatus.REQUESTED  # not yet: its job may still be running
    # Just asked: not asked again before poll_after_s.
    assert poll_processing(gateways, unit_of_work=uow, now=later + timedelta(seconds=1)).asked == 0


def test_poll_applies_each_answer_in_its_own_transaction(
    session: Session, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay, uow: UnitOfWork
) -> None:
    """A database error (PostgreSQL: a serialization failure) while applying one refund's answer rolls
    back that refund only: the answers of the others stay applied, and the next run asks again."""
    now = utcnow()
    first, broken, last = (
        _refund(session, gateways, PaymentChannel.ALIPAY, wechat, alipay) for _ in range(3)
    )
    trigger = fail_updates(session, "payment_refund", f"OLD.id = {broken.id}")
    requested_at = broken.updated_at
    later = now + timedelta(seconds=gateways.payments.poll_after_s + 1)

    result = poll_processing(gateways, unit_of_work=uow, now=later)

    assert (result.asked, result.changed, result.errors) == (3, 2, 1)
    assert (first.status, last.status) == (RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    for done in (first, last):
        assert session.get_one(PaymentOrder, done.order_id).status is PaymentOrderStatus.REFUNDED
    session.refresh(broken)
    assert (broken.status, broken.updated_at) == (RefundStatus.REQUESTED, requested_at)  # nothing of it kept
    broken_order = session.get_one(PaymentOrder, broken.order_id)
    assert broken_order.status is PaymentOrderStatus.PAID
    assert alipay.refunded_fen(broken_order.out_trade_no) == 20000  # refunded there: the next run sees it

    allow_updates(session, "payment_refund", trigger)
    again = poll_processing(gateways, unit_of_work=uow, now=later + timedelta(seconds=1))
    assert (again.asked, again.changed, again.errors) == (1, 1, 0)
    assert broken.status is RefundStatus.SUCCEEDED
    assert alipay.refunded_fen(broken_order.out_trade_no) == 20000  # once
