"""The whole refund flow with committed data: staff request → ``payments.refund`` in a real RQ worker
process → the fake gateway → (WeChat Pay) the signed REFUND.SUCCESS notification to our API → the order
is refunded; a duplicate notification changes nothing. Alipay answers synchronously."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from api.main import create_app
from core.db import session_scope
from core.jobs import RQDispatcher, configure_jobs
from core.kit.clock import utcnow
from core.models import (
    NotificationVerdict,
    PaymentChannel,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    RefundStatus,
)
from core.settings import Settings
from payments.gateways import wechatpay_client
from payments.refunds import provider, service
from payments.refunds.notifications import receive_wechat_refund
from payments.sandbox.alipay import FakeAlipay
from payments.sandbox.wechatpay import FakeWechatPay
from tests.conftest import TEST_BACKEND
from tests.fixtures.worker import run_worker
from tests.payments.refunds.conftest import Committed, provider_env

NOTIFY_PATH = "/api/v1/payments/notify/wechat/refund"


def _request(engine: Engine, order_id: int) -> str:
    with session_scope(engine) as session:
        refund = service.request_refund(
            session, order_id=order_id, reason="决定撤销", staff_id=None, now=utcnow()
        )
        return refund.out_refund_no


def _state(engine: Engine, order_id: int) -> tuple[PaymentRefund, PaymentOrder]:
    with session_scope(engine) as session:
        refund = session.exec(select(PaymentRefund).where(col(PaymentRefund.order_id) == order_id)).one()
        order = session.get_one(PaymentOrder, order_id)
        session.expunge_all()
        return refund, order


def test_wechat_refund_end_to_end(
    engine: Engine, rq_settings: Settings, gateways: Settings, committed: Committed, wechat: FakeWechatPay
) -> None:
    order_id = committed.paid_order(PaymentChannel.WECHAT, 20000)
    assert isinstance(configure_jobs(rq_settings), RQDispatcher)
    out_refund_no = _request(engine, order_id)  # the job is queued after commit
    result = run_worker(rq_settings, provider_env(gateways))
    assert result.returncode == 0, result.stderr[-3000:]
    refund, order = _state(engine, order_id)
    assert refund.status is RefundStatus.PROCESSING
    assert refund.provider_refund_id == wechat.refund(out_refund_no).refund_id
    assert order.status is PaymentOrderStatus.PAID

    notification = wechat.finish_refund(out_refund_no, send=False)
    assert wechat.refund(out_refund_no).notify_url.endswith(NOTIFY_PATH)
    with TestClient(create_app(gateways)) as api:
        answers = [
            api.post(NOTIFY_PATH, content=notification.body, headers=notification.headers) for _ in range(2)
        ]
    assert [answer.status_code for answer in answers] == [204, 204]  # the duplicate is acknowledged
    refund, order = _state(engine, order_id)
    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.finished_at is not None
    assert order.status is PaymentOrderStatus.REFUNDED
    with session_scope(engine) as session:
        stored = session.exec(
            select(PaymentNotification).where(col(PaymentNotification.out_trade_no) == order.out_trade_no)
        ).all()
        assert [(n.dedupe_key, n.verdict, n.flagged) for n in stored] == [
            (notification.notification_id, NotificationVerdict.APPLIED, False)
        ]


def test_alipay_refund_end_to_end(
    engine: Engine, rq_settings: Settings, gateways: Settings, committed: Committed, alipay: FakeAlipay
) -> None:
    order_id = committed.paid_order(PaymentChannel.ALIPAY, 5000)
    configure_jobs(rq_settings)
    out_refund_no = _request(engine, order_id)
    result = run_worker(rq_settings, provider_env(gateways))
    assert result.returncode == 0, result.stderr[-3000:]
    refund, order = _state(engine, order_id)
    assert refund.status is RefundStatus.SUCCEEDED  # synchronous
    assert order.status is PaymentOrderStatus.REFUNDED
    assert alipay.refund(order.out_trade_no, out_refund_no).refund_amount == "50.00"


def test_refused_refund_ends_failed_for_staff(
    engine: Engine, rq_settings: Settings, gateways: Settings, committed: Committed, wechat: FakeWechatPay
) -> None:
    order_id = committed.paid_order(PaymentChannel.WECHAT, 300)
    configure_jobs(rq_settings)
    _request(engine, order_id)
    wechat.state.refund_refusal = (403, "NOT_ENOUGH", "基本账户余额不足")
    try:
        result = run_worker(rq_settings, provider_env(gateways))
    finally:
        wechat.state.refund_refusal = None
    assert result.returncode == 0, result.stderr[-3000:]
    refund, order = _state(engine, order_id)
    assert refund.status is RefundStatus.FAILED
    assert refund.failure.startswith("wechat:NOT_ENOUGH")
    assert order.status is PaymentOrderStatus.PAID


@pytest.mark.skipif(
    TEST_BACKEND != "postgresql", reason="concurrent writers: PostgreSQL (SQLite serialises them)"
)
def test_the_same_notification_twenty_times_at_once_is_applied_once(
    engine: Engine, rq_settings: Settings, gateways: Settings, committed: Committed, wechat: FakeWechatPay
) -> None:
    order_id = committed.paid_order(PaymentChannel.WECHAT, 20000)
    configure_jobs(rq_settings)  # the queued job is not run: the refund is sent here
    out_refund_no = _request(engine, order_id)
    with session_scope(engine) as session:
        refund, _ = _state(engine, order_id)
        assert refund.id is not None
        call = service.refund_call(session, refund.id)
        assert call is not None
        service.apply_outcome(session, refund.id, provider.send(gateways, call), now=utcnow())
    sent = wechat.finish_refund(out_refund_no, send=False)
    client = wechatpay_client(gateways)
    barrier = threading.Barrier(20, timeout=60)

    def receive() -> bool:
        barrier.wait()
        with session_scope(engine) as session:
            answer = receive_wechat_refund(
                session,
                client=client,
                headers=sent.headers,
                body=sent.body,
                client_ip="127.0.0.1",
                now=utcnow(),
            )
            return answer.accepted

    with ThreadPoolExecutor(max_workers=20) as pool:
        accepted = list(pool.map(lambda _: receive(), range(20)))
    assert accepted == [True] * 20
    refund, order = _state(engine, order_id)
    assert (refund.status, order.status) == (RefundStatus.SUCCEEDED, PaymentOrderStatus.REFUNDED)
    with session_scope(engine) as session:
        stored = session.exec(
            select(PaymentNotification).where(col(PaymentNotification.out_trade_no) == order.out_trade_no)
        ).all()
        assert [(n.verdict, n.flagged) for n in stored] == [(NotificationVerdict.APPLIED, False)]
