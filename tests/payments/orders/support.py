"""Shared pieces of the payment order tests: both fake gateways, settings pointing at them, decisions,
citizens with tokens, and what landed on the RQ queues (jobs are sent to a private Redis prefix, never
run inline, so a job can never wait on the test's own uncommitted transaction)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from sqlmodel import Session

from core.auth.service import token_for
from core.jobs import JOBS
from core.kit.clock import to_local, utcnow
from core.models import Citizen, PenaltyDecision
from core.settings import Settings
from payments.orders import service
from payments.orders.schemas import PaymentOrderOut
from payments.sandbox.alipay import FakeAlipay, running_fake_alipay
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay

PARTY = "张三"
WECHAT_NOTIFY = "/api/v1/payments/notify/wechat"
ALIPAY_NOTIFY = "/api/v1/payments/notify/alipay"


@dataclass(frozen=True)
class Fakes:
    wechat: FakeWechatPay
    alipay: FakeAlipay

    def settings(self, base: Settings, *, server: str = "http://testserver") -> Settings:
        """``base`` with both channels at the fakes and their notifications addressed to ``server``."""
        settings = self.wechat.settings_for(base, notify_url=f"{server}{WECHAT_NOTIFY}")
        settings = self.alipay.settings_for(settings, notify_url=f"{server}{ALIPAY_NOTIFY}")
        alipay = settings.alipay.model_copy(update={"seller_id": self.alipay.seller_id})
        return settings.model_copy(update={"alipay": alipay})


@contextmanager
def running_fakes() -> Iterator[Fakes]:
    with running_fake_wechatpay() as wechat, running_fake_alipay() as alipay:
        yield Fakes(wechat, alipay)


def add_decision(session: Session, *, today: date | None = None, **values: Any) -> PenaltyDecision:
    """An unpaid decision served 20 days before ``today`` (local): 5 overdue days, 200.00 + 30.00."""
    today = today or to_local(utcnow()).date()
    served = today - timedelta(days=20)
    fields: dict[str, Any] = {
        "decision_no": f"赣城管罚决字〔2026〕第{secrets.randbelow(10**8):08d}号",
        "party_name": PARTY,
        "party_id_masked": "3601**********1234",
        "phone": "13800138000",
        "amount_fen": 20000,
        "decided_on": served,
        "served_on": served,
        "due_on": served + timedelta(days=15),
    } | values
    decision = PenaltyDecision(**fields)
    session.add(decision)
    session.flush()
    return decision


def add_citizen(session: Session, settings: Settings, *, openid: str | None = None) -> tuple[Citizen, str]:
    """A citizen (with a WeChat openid unless told otherwise) and a bearer token for them."""
    citizen = Citizen(
        phone=f"139{secrets.randbelow(10**8):08d}",
        openid=openid if openid is not None else f"o-{secrets.token_hex(8)}",
    )
    session.add(citizen)
    session.flush()
    token, _ = token_for(settings, citizen)
    return citizen, token


def queued(settings: Settings, queue: str = "payments") -> list[tuple[str, dict[str, Any]]]:
    """(function path, kwargs) of every job waiting on one of this test's RQ queues."""
    connection = Redis.from_url(str(settings.redis.url))
    jobs = Queue(f"{settings.redis.queue_prefix}-{queue}", connection=connection).jobs
    return [(str(job.func_name), dict(job.kwargs)) for job in jobs]


def queued_names(settings: Settings, queue: str = "payments") -> list[str]:
    """The registry names (``payments.receipt`` …) of the jobs waiting on one queue."""
    by_path = {spec.path: name for name, spec in JOBS.items()}
    return [by_path.get(path, path) for path, _ in queued(settings, queue)]


def create_order(
    session: Session,
    *,
    request: service.PaymentRequest,
    now: datetime,
    settings: Settings,
    citizen: Citizen | None = None,
    client_ip: str = "10.0.0.1",
) -> PaymentOrderOut:
    """Both units of work of order creation and the provider call between them, in the test's session
    (the endpoint commits between them; here everything stays in the test's transaction)."""
    started = service.start_order(
        session, request=request, citizen=citizen, client_ip=client_ip, now=now, settings=settings
    )
    if isinstance(started, PaymentOrderOut):
        return started
    placed = service.place_at_provider(started, settings=settings)
    return service.finish_order(session, placed=placed, now=now, settings=settings)
