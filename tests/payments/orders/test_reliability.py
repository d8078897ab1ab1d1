"""The reliability rules against the local fake WeChat Pay and Alipay gateways: a lost notification is
settled by the poller, an expired order is closed at the provider and here, a payment after the order was
closed is kept for a refund, and provider trouble leaves orders untouched."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from core.jobs import pending_jobs
from core.kit.clock import SHANGHAI, to_local, utcnow
from core.models import (
    FineStatus,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
    PenaltyDecision,
)
from core.settings import Settings, get_settings
from payments.gateways import alipay_client, wechatpay_client
from payments.orders import reliability
from payments.orders.reliability import CLOSE_GRACE, Outcome, UnitOfWork
from payments.orders.reliability_provider import ProviderCalls
from payments.orders.reliability_repository import order_ref
from payments.orders.settle import settle_paid
from payments.providers import ProviderError
from payments.sandbox.alipay import FakeAlipay, running_fake_alipay
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay
from tests.payments.refunds.dbfault import fail_updates

CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens there: connection refused
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
def settings(wechat: FakeWechatPay, alipay: FakeAlipay) -> Settings:
    return alipay.settings_for(wechat.settings_for(get_settings()), notify_url="https://zhcg.example/pay/ali")


@pytest.fixture
def calls(settings: Settings) -> ProviderCalls:
    return ProviderCalls(settings)


@pytest.fixture
def uow(session: Session) -> UnitOfWork:
    """The job's unit of work inside the test's transaction: a savepoint released at the end."""

    @contextmanager
    def unit() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    return unit


@pytest.fixture
def now() -> datetime:
    return utcnow()


def add_decision(session: Session, amount_fen: int = 20000) -> PenaltyDecision:
    served = to_local(utcnow()).date() - timedelta(days=3)
    decision = PenaltyDecision(
        decision_no=f"渝城管罚决字〔2026〕第{secrets.randbelow(10**8):08d}号",
        party_name="张三",
        amount_fen=amount_fen,
        decided_on=served,
        served_on=served,
        due_on=served + timedelta(days=15),
    )
    session.add(decision)
    session.flush()
    return decision


def add_order(
    session: Session,
    settings: Settings,
    channel: PaymentChannel,
    *,
    now: datetime,
    age_s: int = 600,
    expires_in_s: int = 1200,
    at_provider: bool = True,
    provider_fen: int | None = None,
    decision: PenaltyDecision | None = None,
) -> PaymentOrder:
    """An order created ``age_s`` ago, known to the fake gateway (unless ``at_provider`` is false: an
    Alipay H5 order whose page the payer never opened)."""
    decision = decision or add_decision(session)
    assert decision.id is not None
    out_trade_no = f"T{secrets.token_hex(12)}"
    expires_at = now + timedelta(seconds=expires_in_s)
    amount = decision.amount_fen
    prepay = ""
    if at_provider and channel is PaymentChannel.WECHAT:
        prepay = wechatpay_client(settings).create_jsapi_order(
            out_trade_no=out_trade_no,
            description="城管罚款",
            amount_fen=provider_fen or amount,
            openid="o-citizen-1",
            time_expire=expires_at,
        )
    elif at_provider:
        prepay = alipay_client(settings).create_mini_order(
            out_trade_no=out_trade_no,
            subject="城管罚款",
            amount_fen=provider_fen or amount,
            buyer_open_id="074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5",
            time_expire=expires_at,
        )
    order = PaymentOrder(
        out_trade_no=out_trade_no,
        decision_id=decision.id,
        channel=channel,
        client=PaymentClient.MINIPROGRAM if at_provider else PaymentClient.H5,
        amount_fen=amount,
        fine_fen=amount,
        prepay_ref=prepay,
        expires_at=expires_at,
        created_at=now - timedelta(seconds=age_s),
        updated_at=now - timedelta(seconds=age_s),
    )
    session.add(order)
    session.flush()
    return order


def reload(session: Session, order: PaymentOrder) -> tuple[PaymentOrder, PenaltyDecision]:
    session.expire_all()
    fresh = session.exec(select(PaymentOrder).where(col(PaymentOrder.id) == order.id)).one()
    decision = session.exec(select(PenaltyDecision).where(col(PenaltyDecision.id) == fresh.decision_id)).one()
    return fresh, decision


def jobs(session: Session, name: str) -> list[dict[str, object]]:
    return [dict(job.kwargs) for job in pending_jobs(session) if job.name == name]


def poll(settings: Settings, calls: ProviderCalls, uow: UnitOfWork, now: datetime) -> dict[Outcome, int]:
    return dict(reliability.poll_pending(settings=settings, calls=calls, unit_of_work=uow, now=now))


# -- lost notifications ----------------------------------------------------------------------------


def test_a_lost_wechat_notification_is_settled_by_the_poller(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now)
    wechat.pay(order.out_trade_no)  # the notification is never sent

    assert poll(settings, calls, uow, now) == {Outcome.PAID: 1}

    paid, decision = reload(session, order)
    at_fake = wechat.order(order.out_trade_no)
    assert paid.status is PaymentOrderStatus.PAID
    assert paid.provider_txn_id == at_fake.transaction_id
    assert paid.paid_amount_fen == 20000
    assert at_fake.success_time is not None
    assert paid.paid_at == datetime.fromisoformat(at_fake.success_time)
    assert paid.receipt_no is not None
    assert paid.last_polled_at == now
    assert decision.status is FineStatus.PAID
    assert jobs(session, "payments.receipt") == [{"order_id": order.id}]


def test_a_lost_alipay_notification_is_settled_by_the_poller(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now)
    alipay.pay(order.out_trade_no)

    assert poll(settings, calls, uow, now) == {Outcome.PAID: 1}

    paid, decision = reload(session, order)
    assert paid.status is PaymentOrderStatus.PAID
    assert paid.provider_txn_id == alipay.trade(order.out_trade_no).trade_no
    assert paid.paid_amount_fen == 20000
    gmt_payment = alipay.trade(order.out_trade_no).gmt_payment
    assert gmt_payment is not None
    # Alipay's payment time (send_pay_date, Beijing time), not when we learned it.
    assert paid.paid_at == datetime.strptime(gmt_payment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    assert decision.status is FineStatus.PAID
    assert jobs(session, "payments.receipt") == [{"order_id": order.id}]


def test_young_and_recently_polled_orders_are_left_alone(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    young = add_order(session, settings, PaymentChannel.WECHAT, now=now, age_s=60)
    waiting = add_order(session, settings, PaymentChannel.WECHAT, now=now)
    wechat.pay(young.out_trade_no)
    asked = len(wechat.state.requests)

    assert poll(settings, calls, uow, now) == {Outcome.WAITING: 1}
    assert len(wechat.state.requests) == asked + 1  # only the older order was asked about
    # A minute later neither is due: the young one is too young, the other was asked just now.
    assert poll(settings, calls, uow, now + timedelta(seconds=60)) == {}
    assert reload(session, young)[0].status is PaymentOrderStatus.PENDING
    assert reload(session, waiting)[0].last_polled_at == now
    # Once poll_after_s has passed both are asked again, and the paid one is settled.
    later = now + timedelta(seconds=settings.payments.poll_after_s)
    assert poll(settings, calls, uow, later) == {Outcome.PAID: 1, Outcome.WAITING: 1}
    assert reload(session, young)[0].status is PaymentOrderStatus.PAID


def test_the_batch_is_bounded(
    session: Session, settings: Settings, calls: ProviderCalls, uow: UnitOfWork, now: datetime
) -> None:
    small = settings.model_copy(update={"payments": settings.payments.model_copy(update={"poll_batch": 2})})
    for _ in range(3):
        add_order(session, settings, PaymentChannel.ALIPAY, now=now)
    assert poll(small, calls, uow, now) == {Outcome.WAITING: 2}
    assert poll(small, calls, uow, now) == {Outcome.WAITING: 1}


def test_a_payment_settled_by_its_notification_meanwhile_is_not_applied_twice(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now)
    wechat.pay(order.out_trade_no)
    ref = order_ref(order)  # claimed by the poller …
    at_fake = wechat.order(order.out_trade_no)
    assert at_fake.transaction_id is not None
    # … while the notification handler settles it.
    settle_paid(session, order, provider_txn_id=at_fake.transaction_id, paid_fen=20000, paid_at=now)

    assert reliability.check_order(ref, calls=calls, unit_of_work=uow, now=now) is Outcome.ALREADY
    assert jobs(session, "payments.receipt") == [{"order_id": order.id}]


def test_an_amount_that_does_not_match_is_never_applied(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now, provider_fen=19999)
    alipay.pay(order.out_trade_no)

    assert poll(settings, calls, uow, now) == {Outcome.MISMATCH: 1}

    left, decision = reload(session, order)
    assert (left.status, left.provider_txn_id, left.paid_at) == (PaymentOrderStatus.PENDING, None, None)
    assert decision.status is FineStatus.UNPAID
    assert jobs(session, "payments.receipt") == []


# -- expired orders --------------------------------------------------------------------------------


def test_an_expired_wechat_order_is_closed_at_the_provider_and_here(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now, age_s=1900, expires_in_s=EXPIRED_S)

    assert poll(settings, calls, uow, now) == {Outcome.CLOSED: 1}

    closed, decision = reload(session, order)
    assert (closed.status, closed.closed_at) == (PaymentOrderStatus.CLOSED, now)
    assert wechat.order(order.out_trade_no).trade_state == "CLOSED"
    assert decision.status is FineStatus.UNPAID
    # Nobody can pay it any more.
    with pytest.raises(AssertionError):
        wechat.pay(order.out_trade_no)


def test_expired_alipay_orders_are_closed_whether_or_not_the_trade_exists_there(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    mini = add_order(session, settings, PaymentChannel.ALIPAY, now=now, age_s=1900, expires_in_s=EXPIRED_S)
    never_opened = add_order(
        session,
        settings,
        PaymentChannel.ALIPAY,
        now=now,
        age_s=1900,
        expires_in_s=EXPIRED_S,
        at_provider=False,
    )

    outcomes = reliability.close_expired(settings=settings, calls=calls, unit_of_work=uow, now=now)

    assert dict(outcomes) == {Outcome.CLOSED: 2}
    assert alipay.trade(mini.out_trade_no).trade_status == "TRADE_CLOSED"
    assert reload(session, mini)[0].status is PaymentOrderStatus.CLOSED
    assert reload(session, never_opened)[0].status is PaymentOrderStatus.CLOSED


def test_an_order_paid_just_before_it_expired_is_applied_not_closed(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now, age_s=1900, expires_in_s=EXPIRED_S)
    wechat.pay(order.out_trade_no)

    # close_expired closes first: refused (paid), so the query decides.
    outcomes = reliability.close_expired(settings=settings, calls=calls, unit_of_work=uow, now=now)

    assert dict(outcomes) == {Outcome.PAID: 1}
    paid, decision = reload(session, order)
    assert (paid.status, decision.status) == (PaymentOrderStatus.PAID, FineStatus.PAID)
    assert wechat.order(order.out_trade_no).trade_state == "SUCCESS"


def test_expired_orders_are_closed_by_the_poll_run_and_a_second_run_does_nothing(
    session: Session, settings: Settings, calls: ProviderCalls, uow: UnitOfWork, now: datetime
) -> None:
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now, age_s=1900, expires_in_s=EXPIRED_S)
    assert poll(settings, calls, uow, now) == {Outcome.CLOSED: 1}
    later = now + timedelta(seconds=settings.payments.poll_after_s * 2)
    assert poll(settings, calls, uow, later) == {}
    assert dict(reliability.close_expired(settings=settings, calls=calls, unit_of_work=uow, now=later)) == {}
    assert reload(session, order)[0].closed_at == now


# -- payment after the order was closed here -------------------------------------------------------


def test_a_payment_after_the_order_expired_is_flagged_for_a_refund(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now, age_s=1900, expires_in_s=EXPIRED_S)
    # Closed here (superseded by a new order), then the payer pays the old one before it is closed there.
    order.status, order.closed_at = PaymentOrderStatus.CLOSED, now
    session.add(order)
    session.flush()
    wechat.pay(order.out_trade_no)

    assert reliability.close_at_provider(order.id or 0, calls=calls, unit_of_work=uow, now=now) is (
        Outcome.NEEDS_REFUND
    )

    flagged, decision = reload(session, order)
    assert flagged.status is PaymentOrderStatus.NEEDS_REFUND
    assert flagged.provider_txn_id == wechat.order(order.out_trade_no).transaction_id
    assert flagged.paid_amount_fen == 20000
    assert flagged.receipt_no is None
    assert decision.status is FineStatus.UNPAID  # the money is not applied
    assert jobs(session, "payments.receipt") == []


def test_a_superseded_order_paid_before_it_expired_is_applied(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    """The payer paid within the time they were given (settle's rule): applied, not kept for a refund."""
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now)
    order.status, order.closed_at = PaymentOrderStatus.CLOSED, now
    session.add(order)
    session.flush()
    alipay.pay(order.out_trade_no)

    assert (
        reliability.close_at_provider(order.id or 0, calls=calls, unit_of_work=uow, now=now) is Outcome.PAID
    )
    paid, decision = reload(session, order)
    assert (paid.status, decision.status) == (PaymentOrderStatus.PAID, FineStatus.PAID)
    assert jobs(session, "payments.receipt") == [{"order_id": order.id}]


def test_close_at_provider_closes_a_superseded_order_at_alipay(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now)
    order.status, order.closed_at = PaymentOrderStatus.CLOSED, now
    session.add(order)
    session.flush()

    assert (
        reliability.close_at_provider(order.id or 0, calls=calls, unit_of_work=uow, now=now) is Outcome.CLOSED
    )
    assert alipay.trade(order.out_trade_no).trade_status == "TRADE_CLOSED"
    # Again (a retried job): nothing changes.
    assert (
        reliability.close_at_provider(order.id or 0, calls=calls, unit_of_work=uow, now=now) is Outcome.CLOSED
    )
    assert reload(session, order)[0].status is PaymentOrderStatus.CLOSED


def test_close_at_provider_leaves_pending_and_settled_orders_alone(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now)
    assert (
        reliability.close_at_provider(order.id or 0, calls=calls, unit_of_work=uow, now=now)
        is Outcome.ALREADY
    )
    assert wechat.order(order.out_trade_no).trade_state == "NOTPAY"
    assert reliability.close_at_provider(10**9, calls=calls, unit_of_work=uow, now=now) is Outcome.ALREADY


# -- provider trouble ------------------------------------------------------------------------------


def down(settings: Settings) -> Settings:
    """WeChat Pay unreachable; Alipay still answers."""
    wechatpay = settings.wechatpay.model_copy(update={"api_base": CLOSED_PORT})
    return settings.model_copy(update={"wechatpay": wechatpay})


def test_a_provider_that_is_down_leaves_its_orders_untouched_and_the_others_settled(
    session: Session,
    settings: Settings,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    paid_wechat = add_order(session, settings, PaymentChannel.WECHAT, now=now, age_s=900)
    expired_wechat = add_order(
        session, settings, PaymentChannel.WECHAT, now=now, age_s=1900, expires_in_s=EXPIRED_S
    )
    paid_alipay = add_order(session, settings, PaymentChannel.ALIPAY, now=now, age_s=300)
    wechat.pay(paid_wechat.out_trade_no)
    alipay.pay(paid_alipay.out_trade_no)
    broken = down(settings)

    assert poll(broken, ProviderCalls(broken), uow, now) == {Outcome.FAILED: 2, Outcome.PAID: 1}

    for order in (paid_wechat, expired_wechat):
        left, decision = reload(session, order)
        assert (left.status, left.closed_at, left.provider_txn_id) == (PaymentOrderStatus.PENDING, None, None)
        assert decision.status is FineStatus.UNPAID
    assert wechat.order(expired_wechat.out_trade_no).trade_state == "NOTPAY"
    assert reload(session, paid_alipay)[0].status is PaymentOrderStatus.PAID

    # Back up: the next run (after poll_after_s) settles and closes them.
    later = now + timedelta(seconds=settings.payments.poll_after_s)
    assert poll(settings, ProviderCalls(settings), uow, later) == {Outcome.PAID: 1, Outcome.CLOSED: 1}
    assert reload(session, paid_wechat)[0].status is PaymentOrderStatus.PAID
    assert reload(session, expired_wechat)[0].status is PaymentOrderStatus.CLOSED


def test_a_channel_that_keeps_failing_is_skipped_for_the_rest_of_the_run(
    session: Session, settings: Settings, uow: UnitOfWork, now: datetime
) -> None:
    for _ in range(reliability.CHANNEL_BREAKER + 2):
        add_order(session, settings, PaymentChannel.WECHAT, now=now)
    broken = down(settings)
    assert poll(broken, ProviderCalls(broken), uow, now) == {
        Outcome.FAILED: reliability.CHANNEL_BREAKER,
        Outcome.SKIPPED: 2,
    }


def test_close_at_provider_raises_on_provider_trouble_so_the_job_is_retried(
    session: Session, settings: Settings, uow: UnitOfWork, now: datetime
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now)
    order.status, order.closed_at = PaymentOrderStatus.CLOSED, now
    session.add(order)
    session.flush()
    broken = down(settings)
    with pytest.raises(ProviderError) as raised:
        reliability.close_at_provider(order.id or 0, calls=ProviderCalls(broken), unit_of_work=uow, now=now)
    assert raised.value.code == "provider_unavailable"
    assert reload(session, order)[0].status is PaymentOrderStatus.CLOSED


def test_a_run_past_its_time_budget_leaves_the_rest_for_the_next_run(
    session: Session, settings: Settings, calls: ProviderCalls, uow: UnitOfWork, now: datetime
) -> None:
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now)
    outcomes = reliability.poll_pending(
        settings=settings, calls=calls, unit_of_work=uow, now=now, budget_s=-1
    )
    assert dict(outcomes) == {Outcome.SKIPPED: 1}
    assert reload(session, order)[0].last_polled_at == now  # claimed: asked again after poll_after_s


def test_an_unconfigured_channel_fails_its_orders_without_stopping_the_run(
    session: Session, settings: Settings, uow: UnitOfWork, alipay: FakeAlipay, now: datetime
) -> None:
    for _ in range(reliability.CHANNEL_BREAKER + 1):
        add_order(session, settings, PaymentChannel.WECHAT, now=now, age_s=900)
    paid = add_order(session, settings, PaymentChannel.ALIPAY, now=now, age_s=600)
    alipay.pay(paid.out_trade_no)
    unconfigured = settings.model_copy(update={"wechatpay": get_settings().wechatpay})
    outcomes = poll(unconfigured, ProviderCalls(unconfigured), uow, now)
    assert outcomes == {Outcome.FAILED: reliability.CHANNEL_BREAKER, Outcome.SKIPPED: 1, Outcome.PAID: 1}


def test_the_poller_keeps_alipays_payment_time_for_the_local_day(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    """Paid at 23:59:58 Beijing time, learned after midnight: the payment belongs to the day it was made
    (reconciliation groups by ``paid_at``'s local day; the receipt number carries that day)."""
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now)
    alipay.pay(order.out_trade_no)
    paid_local = to_local(now).replace(hour=23, minute=59, second=58, microsecond=0) - timedelta(days=1)
    with alipay.state.lock:
        alipay.state.trades[order.out_trade_no].gmt_payment = paid_local.strftime("%Y-%m-%d %H:%M:%S")

    observed = calls.query(PaymentChannel.ALIPAY, order.out_trade_no)
    assert observed.paid
    assert observed.paid_at == paid_local
    assert observed.paid_at is not None
    assert observed.paid_at.tzinfo is not None

    assert poll(settings, calls, uow, now) == {Outcome.PAID: 1}
    paid, _ = reload(session, order)
    assert paid.paid_at == paid_local
    assert paid.paid_at is not None
    assert to_local(paid.paid_at).date() == paid_local.date()
    assert paid.receipt_no == f"ZF{paid_local:%Y%m%d}{order.id:08d}"


def test_an_alipay_answer_without_a_payment_time_is_settled_at_our_clock(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.ALIPAY, now=now)
    alipay.pay(order.out_trade_no)
    with alipay.state.lock:  # a reply that does not say when (the fake then leaves send_pay_date out)
        alipay.state.trades[order.out_trade_no].gmt_payment = None

    assert calls.query(PaymentChannel.ALIPAY, order.out_trade_no).paid_at is None
    assert poll(settings, calls, uow, now) == {Outcome.PAID: 1}
    paid, _ = reload(session, order)
    assert paid.paid_at == now


# -- grace before closing, zoneless times, database errors -----------------------------------------


def test_an_order_is_closed_only_once_the_grace_after_its_expiry_has_passed(
    session: Session, settings: Settings, calls: ProviderCalls, uow: UnitOfWork, now: datetime
) -> None:
    """An Alipay H5 order the payer has not opened yet is unknown there: marked closed at exactly
    ``expires_at``, a trade the payer creates a moment later (our clock ahead of Alipay's) would be paid
    for a closed order. It is left alone until ``CLOSE_GRACE`` after its expiry."""
    just_expired = add_order(
        session, settings, PaymentChannel.ALIPAY, now=now, age_s=1900, expires_in_s=-30, at_provider=False
    )
    assert dict(reliability.close_expired(settings=settings, calls=calls, unit_of_work=uow, now=now)) == {}
    assert poll(settings, calls, uow, now) == {Outcome.WAITING: 1}
    assert reload(session, just_expired)[0].status is PaymentOrderStatus.PENDING

    past_grace = now + CLOSE_GRACE + timedelta(seconds=settings.payments.poll_after_s)
    outcomes = reliability.close_expired(settings=settings, calls=calls, unit_of_work=uow, now=past_grace)
    assert dict(outcomes) == {Outcome.CLOSED: 1}
    assert reload(session, just_expired)[0].closed_at == past_grace


def test_a_wechat_payment_time_without_a_zone_is_beijing_time(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    now: datetime,
) -> None:
    order = add_order(session, settings, PaymentChannel.WECHAT, now=now)
    wechat.pay(order.out_trade_no)
    paid_local = to_local(now).replace(microsecond=0, tzinfo=None) - timedelta(minutes=3)
    with wechat.state.lock:  # a reply whose success_time carries no offset
        wechat.state.orders[order.out_trade_no].success_time = paid_local.isoformat()

    observed = calls.query(PaymentChannel.WECHAT, order.out_trade_no)
    assert observed.paid_at == paid_local.replace(tzinfo=SHANGHAI)  # not dropped, not read as UTC
    assert poll(settings, calls, uow, now) == {Outcome.PAID: 1}
    assert reload(session, order)[0].paid_at == paid_local.replace(tzinfo=SHANGHAI)


def test_a_database_error_on_one_order_is_rolled_back_and_the_run_goes_on(
    session: Session,
    settings: Settings,
    calls: ProviderCalls,
    uow: UnitOfWork,
    wechat: FakeWechatPay,
    alipay: FakeAlipay,
    now: datetime,
) -> None:
    broken = add_order(session, settings, PaymentChannel.WECHAT, now=now, age_s=900)
    fine = add_order(session, settings, PaymentChannel.ALIPAY, now=now, age_s=600)
    wechat.pay(broken.out_trade_no)
    alipay.pay(fine.out_trade_no)
    # Settling the first order fails in the database (PostgreSQL: a serialization failure); the claim,
    # which only stamps last_polled_at, does not.
    fail_updates(
        session, "payment_order", f"OLD.out_trade_no = '{broken.out_trade_no}' AND NEW.status <> OLD.status"
    )

    assert poll(settings, calls, uow, now) == {Outcome.FAILED: 1, Outcome.PAID: 1}

    left, decision = reload(session, broken)
    assert (left.status, left.provider_txn_id, left.paid_at, left.receipt_no) == (
        PaymentOrderStatus.PENDING,
        None,
        None,
        None,
    )
    assert left.last_polled_at == now  # claimed: asked again after poll_after_s
    assert decision.status is FineStatus.UNPAID
    paid, paid_decision = reload(session, fine)
    assert (paid.status, paid_decision.status) == (PaymentOrderStatus.PAID, FineStatus.PAID)
    assert jobs(session, "payments.receipt") == [{"order_id": fine.id}]  # none for the rolled-back one
