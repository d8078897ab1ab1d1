"""Refund tests: the local fake gateways, and paid orders (paid at the fake, recorded in our books)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, delete

from core.db import session_scope
from core.kit.clock import to_local, utcnow
from core.models import (
    FineStatus,
    PaymentChannel,
    PaymentClient,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    PenaltyDecision,
)
from core.settings import Settings, get_settings
from payments.gateways import alipay_client, wechatpay_client
from payments.refunds.poll import UnitOfWork
from payments.sandbox.alipay import FakeAlipay, running_fake_alipay
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay

NOTIFY_BASE = "https://zhcg.example/api/v1/payments/notify"


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
    """Settings whose channels are the fakes (the WeChat refund notify URL is …/notify/wechat/refund)."""
    settings = wechat.settings_for(get_settings(), notify_url=f"{NOTIFY_BASE}/wechat")
    return alipay.settings_for(settings, notify_url=f"{NOTIFY_BASE}/alipay")


def provider_env(settings: Settings) -> dict[str, str]:
    """A worker process reads its settings from the environment, as in production."""
    env: dict[str, str] = {}
    for group in ("wechatpay", "alipay"):
        for name, value in getattr(settings, group):
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"ZHCG_{group.upper()}__{name.upper()}"] = str(value)
    return env


def pay_at_provider(
    settings: Settings,
    channel: PaymentChannel,
    wechat: FakeWechatPay | None,
    alipay: FakeAlipay | None,
    amount_fen: int,
) -> tuple[str, str]:
    """An order placed and paid at the fake; returns (out_trade_no, the provider's transaction id)."""
    out_trade_no = f"R{secrets.token_hex(12)}"
    if channel is PaymentChannel.WECHAT:
        wechatpay_client(settings).create_jsapi_order(
            out_trade_no=out_trade_no,
            description="城管罚款",
            amount_fen=amount_fen,
            openid="o-citizen-1",
            time_expire=utcnow() + timedelta(minutes=30),
        )
        assert wechat is not None
        wechat.pay(out_trade_no)
        return out_trade_no, str(wechat.order(out_trade_no).transaction_id)
    alipay_client(settings).create_mini_order(
        out_trade_no=out_trade_no, subject="城管罚款", amount_fen=amount_fen, buyer_open_id="074a1Cc"
    )
    assert alipay is not None
    alipay.pay(out_trade_no)
    return out_trade_no, alipay.trade(out_trade_no).trade_no


def record_order(
    session: Session,
    channel: PaymentChannel,
    out_trade_no: str,
    txn_id: str | None,
    amount_fen: int,
    *,
    status: PaymentOrderStatus = PaymentOrderStatus.PAID,
) -> PaymentOrder:
    """A decision and its order in our books (flushed, not committed)."""
    now = utcnow()
    served = to_local(now).date() - timedelta(days=3)
    decision = PenaltyDecision(
        decision_no=f"城管罚决字〔2026〕第{secrets.randbelow(10**10):010d}号",
        party_name="张三",
        amount_fen=amount_fen,
        decided_on=served,
        served_on=served,
        due_on=served + timedelta(days=15),
        status=FineStatus.PAID if status is PaymentOrderStatus.PAID else FineStatus.UNPAID,
    )
    session.add(decision)
    session.flush()
    assert decision.id is not None
    paid = status in (PaymentOrderStatus.PAID, PaymentOrderStatus.NEEDS_REFUND)
    order = PaymentOrder(
        out_trade_no=out_trade_no,
        decision_id=decision.id,
        channel=channel,
        client=PaymentClient.MINIPROGRAM,
        status=status,
        amount_fen=amount_fen,
        fine_fen=amount_fen,
        provider_txn_id=txn_id if paid else None,
        paid_amount_fen=amount_fen if paid else None,
        paid_at=now if paid else None,
        expires_at=now + timedelta(minutes=30),
    )
    session.add(order)
    session.flush()
    return order


class Committed:
    """Paid orders committed for real (a worker process or the API must see them); removed after."""

    def __init__(self, engine: Engine, settings: Settings, wechat: FakeWechatPay, alipay: FakeAlipay) -> None:
        self.engine = engine
        self.settings = settings
        self.wechat = wechat
        self.alipay = alipay
        self.orders: list[int] = []
        self.decisions: list[int] = []
        self.out_trade_nos: list[str] = []

    def paid_order(self, channel: PaymentChannel, amount_fen: int = 20000) -> int:
        out_trade_no, txn_id = pay_at_provider(self.settings, channel, self.wechat, self.alipay, amount_fen)
        with session_scope(self.engine) as session:
            order = record_order(session, channel, out_trade_no, txn_id, amount_fen)
            assert order.id is not None
            self.orders.append(order.id)
            self.decisions.append(order.decision_id)
            self.out_trade_nos.append(out_trade_no)
            return order.id

    def clean(self) -> None:
        with session_scope(self.engine) as session:
            session.exec(
                delete(PaymentNotification).where(
                    col(PaymentNotification.out_trade_no).in_(self.out_trade_nos)
                )
            )
            session.exec(delete(PaymentRefund).where(col(PaymentRefund.order_id).in_(self.orders)))
            session.exec(delete(PaymentOrder).where(col(PaymentOrder.id).in_(self.orders)))
            session.exec(delete(PenaltyDecision).where(col(PenaltyDecision.id).in_(self.decisions)))


@pytest.fixture
def committed(
    engine: Engine, gateways: Settings, wechat: FakeWechatPay, alipay: FakeAlipay
) -> Iterator[Committed]:
    data = Committed(engine, gateways, wechat, alipay)
    yield data
    data.clean()


@pytest.fixture
def uow(session: Session) -> UnitOfWork:
    """A job's unit of work inside the test's transaction: a savepoint, rolled back when it raises."""

    @contextmanager
    def unit() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    return unit
