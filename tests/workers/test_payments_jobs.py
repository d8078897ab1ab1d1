"""The payment order jobs in a real RQ worker process against the local fake WeChat Pay and Alipay
gateways: one poll run settles orders whose notification was lost and closes an expired one;
close_at_provider flags a payment made after the order was closed; provider trouble is retried by RQ."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import Engine
from sqlmodel import col, delete, select

from core.db import session_scope
from core.jobs import PendingJob, RQDispatcher, configure_jobs
from core.kit.clock import to_local, utcnow
from core.models import (
    FineStatus,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    PenaltyDecision,
    RefundStatus,
)
from core.settings import Settings, get_settings
from payments.gateways import alipay_client, wechatpay_client
from payments.orders.reliability import CLOSE_GRACE
from payments.refunds.service import new_out_refund_no
from payments.sandbox.alipay import FakeAlipay, running_fake_alipay
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay
from tests.fixtures.worker import run_worker
from tests.payments.refunds.conftest import Committed as RefundData

CLOSED_PORT = "http://127.0.0.1:9"
# Expired longer ago than the grace before an expired order is closed.
EXPIRED_S = -int(CLOSE_GRACE.total_seconds()) - 100


@pytest.fixture(scope="module")
def wechat() -> Iterator[FakeWechatPay]:
    with running_fake_wechatpay() as fake:
        yield fake


@pytest.fixture(scope="module")
def alipay() -> Iterator[FakeAlipay]:
    with running_fake_alipay() as fake:
        yield fake


@pytest.fixture
def gateways(wechat: FakeWechatPay, alipay: FakeAlipay) -> Settings:
    return alipay.settings_for(wechat.settings_for(get_settings()), notify_url="https://zhcg.example/pay/ali")


def provider_env(settings: Settings) -> dict[str, str]:
    """The worker process reads its settings from the environment, as in production."""
    env: dict[str, str] = {}
    for group in ("wechatpay", "alipay"):
        for name, value in getattr(settings, group):
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"ZHCG_{group.upper()}__{name.upper()}"] = str(value)
    return env


class Committed:
    """Decisions and orders committed for real (the worker process must see them); removed after."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.orders: list[int] = []
        self.decisions: list[int] = []

    def order(
        self, channel: PaymentChannel, *, age_s: int = 600, expires_in_s: int = 1200, closed: bool = False
    ) -> str:
        now = utcnow()
        out_trade_no = f"W{secrets.token_hex(12)}"
        expires_at = now + timedelta(seconds=expires_in_s)
        if channel is PaymentChannel.WECHAT:
            prepay = wechatpay_client(self.settings).create_jsapi_order(
                out_trade_no=out_trade_no,
                description="城管罚款",
                amount_fen=20000,
                openid="o-citizen-1",
                time_expire=expires_at,
            )
        else:
            prepay = alipay_client(self.settings).create_mini_order(
                out_trade_no=out_trade_no, subject="城管罚款", amount_fen=20000, buyer_open_id="074a1Cc"
            )
        served = to_local(now).date() - timedelta(days=3)
        with session_scope(self.engine) as session:
            decision = PenaltyDecision(
                decision_no=f"渝城管罚决字〔2026〕第{secrets.randbelow(10**8):08d}号",
                party_name="张三",
                amount_fen=20000,
                decided_on=served,
                served_on=served,
                due_on=served + timedelta(days=15),
            )
            session.add(decision)
            session.flush()
            assert decision.id is not None
            order = PaymentOrder(
                out_trade_no=out_trade_no,
                decision_id=decision.id,
                channel=channel,
                client=PaymentClient.MINIPROGRAM,
                status=PaymentOrderStatus.CLOSED if closed else PaymentOrderStatus.PENDING,
                amount_fen=20000,
                fine_fen=20000,
                prepay_ref=prepay,
                expires_at=expires_at,
                closed_at=now if closed else None,
                created_at=now - timedelta(seconds=age_s),
                updated_at=now - timedelta(seconds=age_s),
            )
            session.add(order)
            session.flush()
            assert order.id is not None
            self.orders.append(order.id)
            self.decisions.append(decision.id)
        return out_trade_no

    def get(self, out_trade_no: str) -> tuple[PaymentOrder, PenaltyDecision]:
        with session_scope(self.engine) as session:
            order = session.exec(
                select(PaymentOrder).where(col(PaymentOrder.out_trade_no) == out_trade_no)
            ).one()
            decision = session.exec(
                select(PenaltyDecision).where(col(PenaltyDecision.id) == order.decision_id)
            ).one()
            session.expunge_all()
            return order, decision

    def clean(self) -> None:
        with session_scope(self.engine) as session:
            session.exec(delete(PaymentOrder).where(col(PaymentOrder.id).in_(self.orders)))
            session.exec(delete(PenaltyDecision).where(col(PenaltyDecision.id).in_(self.decisions)))


@pytest.fixture
def committed(engine: Engine, gateways: Settings) -> Iterator[Committed]:
    data = Committed(engine, gateways)
    yield data
    data.clean()


def dispatcher(rq_settings: Settings) -> RQDispatcher:
    sent = configure_jobs(rq_settings)
    assert isinstance(sent, RQDispatcher)
    return sent


def payments_queue(settings: Settings) -> Queue:
    return Queue(
        f"{settings.redis.queue_prefix}-payments", connection=Redis.from_url(str(settings.redis.url))
    )


def test_one_poll_run_settles_lost_notifications_and_closes_expired_orders(
    rq_settings: Settings,
    gateways: Settings,
    committed: Committed,
    wechat: FakeWechatPay,
    alipay: FakeAlipay,
) -> None:
    paid_wechat = committed.order(PaymentChannel.WECHAT)
    paid_alipay = committed.order(PaymentChannel.ALIPAY)
    expired = committed.order(PaymentChannel.WECHAT, age_s=1900, expires_in_s=EXPIRED_S)
    young = committed.order(PaymentChannel.ALIPAY, age_s=10)
    wechat.pay(paid_wechat)  # the notifications are never sent
    alipay.pay(paid_alipay)

    dispatcher(rq_settings).send(PendingJob("payments.poll_pending"))
    result = run_worker(rq_settings, provider_env(gateways))
    assert result.returncode == 0, result.stderr[-3000:]

    for out_trade_no, txn_id in (
        (paid_wechat, wechat.order(paid_wechat).transaction_id),
        (paid_alipay, alipay.trade(paid_alipay).trade_no),
    ):
        order, decision = committed.get(out_trade_no)
        assert (order.status, order.provider_txn_id, order.paid_amount_fen) == (
            PaymentOrderStatus.PAID,
            txn_id,
            20000,
        )
        assert order.receipt_no is not None
        assert decision.status is FineStatus.PAID
    closed, decision = committed.get(expired)
    assert closed.status is PaymentOrderStatus.CLOSED
    assert isinstance(closed.closed_at, datetime)
    assert decision.status is FineStatus.UNPAID
    assert wechat.order(expired).trade_state == "CLOSED"
    assert committed.get(young)[0].status is PaymentOrderStatus.PENDING
    assert committed.get(young)[0].last_polled_at is None
    queue = payments_queue(rq_settings)
    assert queue.count == 0
    assert FailedJobRegistry(queue=queue).count == 0  # the two receipt jobs ran too


def test_close_at_provider_flags_a_payment_made_after_the_order_was_closed(
    rq_settings: Settings, gateways: Settings, committed: Committed, alipay: FakeAlipay
) -> None:
    # Closed here (superseded) and expired; paid at Alipay after its expiry, before we closed it there.
    superseded = committed.order(PaymentChannel.ALIPAY, closed=True, age_s=1900, expires_in_s=EXPIRED_S)
    alipay.pay(superseded)

    sent = dispatcher(rq_settings)
    sent.send(PendingJob("payments.close_at_provider", {"order_id": committed.orders[-1]}))
    sent.send(PendingJob("payments.receipt", {"order_id": committed.orders[-1]}))  # a stray receipt job
    result = run_worker(rq_settings, provider_env(gateways))
    assert result.returncode == 0, result.stderr[-3000:]
    assert FailedJobRegistry(queue=payments_queue(rq_settings)).count == 0  # no receipt, no retries

    order, decision = committed.get(superseded)
    assert (order.status, order.provider_txn_id) == (
        PaymentOrderStatus.NEEDS_REFUND,
        alipay.trade(superseded).trade_no,
    )
    assert order.receipt_no is None
    assert decision.status is FineStatus.UNPAID


def test_close_at_provider_is_retried_while_the_provider_is_down(
    rq_settings: Settings, gateways: Settings, committed: Committed, wechat: FakeWechatPay
) -> None:
    superseded = committed.order(PaymentChannel.WECHAT, closed=True)
    env = provider_env(gateways) | {"ZHCG_WECHATPAY__API_BASE": CLOSED_PORT}

    dispatcher(rq_settings).send(PendingJob("payments.close_at_provider", {"order_id": committed.orders[-1]}))
    result = run_worker(rq_settings, env)
    assert result.returncode == 0, result.stderr[-3000:]

    assert wechat.order(superseded).trade_state == "NOTPAY"
    queue = payments_queue(rq_settings)
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    assert Job.fetch(job_id, connection=queue.connection).retries_left == 4

    registry.requeue(job_id)  # the back-off has passed and WeChat Pay is back
    result = run_worker(rq_settings, provider_env(gateways))
    assert result.returncode == 0, result.stderr[-3000:]
    assert wechat.order(superseded).trade_state == "CLOSED"
    assert committed.get(superseded)[0].status is PaymentOrderStatus.CLOSED
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == []


def test_the_refund_poll_job_sends_a_refund_whose_job_was_lost(
    engine: Engine, rq_settings: Settings, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay
) -> None:
    paid = RefundData(engine, gateways, wechat, alipay)
    try:
        order_id = paid.paid_order(PaymentChannel.ALIPAY, 3000)
        long_ago = utcnow() - timedelta(seconds=gateways.payments.poll_after_s + 60)
        with session_scope(engine) as session:  # recorded, but its payments.refund job never ran
            refund = PaymentRefund(
                out_refund_no=new_out_refund_no(long_ago),
                order_id=order_id,
                amount_fen=3000,
                reason="决定撤销",
                created_at=long_ago,
                updated_at=long_ago,
            )
            session.add(refund)
            session.flush()
            refund_id = refund.id

        dispatcher(rq_settings).send(PendingJob("payments.refund_poll"))
        result = run_worker(rq_settings, provider_env(gateways))
        assert result.returncode == 0, result.stderr[-3000:]

        with session_scope(engine) as session:
            done = session.get_one(PaymentRefund, refund_id)
            assert done.status is RefundStatus.SUCCEEDED
            assert session.get_one(PaymentOrder, order_id).status is PaymentOrderStatus.REFUNDED
            out_trade_no = session.get_one(PaymentOrder, order_id).out_trade_no
        assert alipay.refunded_fen(out_trade_no) == 3000
        assert FailedJobRegistry(queue=payments_queue(rq_settings)).count == 0
    finally:
        paid.clean()
