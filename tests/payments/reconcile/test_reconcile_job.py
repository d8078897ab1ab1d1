"""The ``payments.reconcile`` job end to end against the local fake gateways: orders paid at the fake,
a stray trade only the fake knows and an order paid only in our books → the run lists exactly those
mismatches. Data is committed for real (the job owns its units of work) and removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from core.db import session_scope
from core.kit.clock import SHANGHAI, utcnow
from core.models import (
    MismatchKind,
    PaymentChannel,
    PaymentOrder,
    PaymentOrderStatus,
    ReconciliationItem,
)
from core.settings import Settings, get_settings
from payments.gateways import alipay_client, wechatpay_client
from payments.providers import ProviderError
from payments.sandbox.alipay import FakeAlipay, running_fake_alipay
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay
from tests.payments.reconcile.books import Committed, local
from workers.jobs.reconcile import run_reconciliation

WECHAT, ALIPAY = PaymentChannel.WECHAT, PaymentChannel.ALIPAY


@pytest.fixture
def wechat() -> Iterator[FakeWechatPay]:
    with running_fake_wechatpay() as fake:
        yield fake


@pytest.fixture
def alipay() -> Iterator[FakeAlipay]:
    with running_fake_alipay() as fake:
        yield fake


def mismatches(
    items: list[ReconciliationItem], numbers: set[str]
) -> set[tuple[MismatchKind, str, int | None, int | None]]:
    """The items of these orders (committed leftovers of other tests, if any, are not ours to judge)."""
    return {
        (item.kind, item.out_trade_no, item.local_fen, item.bill_fen)
        for item in items
        if item.out_trade_no in numbers
    }


def wechat_settings(fake: FakeWechatPay) -> Settings:
    settings = fake.settings_for(
        get_settings(), notify_url="https://zhcg.example/api/v1/payments/notify/wechat"
    )
    return settings.model_copy(update={"alipay": settings.alipay.model_copy(update={"app_id": ""})})


def alipay_settings(fake: FakeAlipay) -> Settings:
    settings = fake.settings_for(
        get_settings(), notify_url="https://zhcg.example/api/v1/payments/notify/alipay"
    )
    return settings.model_copy(update={"wechatpay": settings.wechatpay.model_copy(update={"mch_id": ""})})


def paid_at_wechat(
    committed: Committed, settings: Settings, fake: FakeWechatPay, amount_fen: int
) -> PaymentOrder:
    """An order placed at the fake, paid there, and settled in our books with the fake's transaction."""
    pending = committed.order(paid_at=None, amount_fen=amount_fen, channel=WECHAT)
    wechatpay_client(settings).create_jsapi_order(
        out_trade_no=pending.out_trade_no,
        description="城管罚款",
        amount_fen=amount_fen,
        openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        time_expire=utcnow() + timedelta(minutes=30),
    )
    fake.pay(pending.out_trade_no)
    paid = fake.order(pending.out_trade_no)
    assert paid.success_time is not None
    return settle(committed, pending, paid.transaction_id or "", datetime.fromisoformat(paid.success_time))


def paid_at_alipay(
    committed: Committed, settings: Settings, fake: FakeAlipay, amount_fen: int
) -> PaymentOrder:
    pending = committed.order(paid_at=None, amount_fen=amount_fen, channel=ALIPAY)
    alipay_client(settings).create_mini_order(
        out_trade_no=pending.out_trade_no,
        subject="城管罚款",
        amount_fen=amount_fen,
        buyer_open_id="074a-open-id",
    )
    fake.pay(pending.out_trade_no)
    trade = fake.trade(pending.out_trade_no)
    assert trade.gmt_payment is not None
    paid_at = datetime.strptime(trade.gmt_payment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    return settle(committed, pending, trade.trade_no, paid_at)


def settle(committed: Committed, order: PaymentOrder, txn: str, paid_at: datetime) -> PaymentOrder:
    """What the notification handler does to the order (its own tests cover that path)."""
    with session_scope(committed.engine) as session:
        row = session.exec(select(PaymentOrder).where(col(PaymentOrder.id) == order.id)).one()
        row.status, row.provider_txn_id = PaymentOrderStatus.PAID, txn
        row.paid_at, row.paid_amount_fen = paid_at, row.amount_fen
        session.add(row)
    return row


def test_wechat_bill_against_our_books(committed: Committed, wechat: FakeWechatPay) -> None:
    settings = wechat_settings(wechat)
    first = paid_at_wechat(committed, settings, wechat, 20000)
    second = paid_at_wechat(committed, settings, wechat, 5050)
    assert first.paid_at is not None
    day = first.paid_at.astimezone(SHANGHAI).date()
    stray = wechat.add_bill_trade(amount_fen=30000, bill_date=day)
    only_ours = committed.order(paid_at=local(day, 12), amount_fen=7000, channel=WECHAT)

    run_ids = run_reconciliation(settings, now=utcnow(), channel="wechat", bill_date=day.isoformat())

    run, items = committed.run(WECHAT, day)
    assert run_ids == [run.id]
    assert run.error == ""
    assert mismatches(items, {*committed.numbers, stray.out_trade_no}) == {
        (MismatchKind.MISSING_LOCALLY, stray.out_trade_no, None, 30000),
        (MismatchKind.MISSING_AT_PROVIDER, only_ours.out_trade_no, 7000, None),
    }
    assert (run.bill_count, run.bill_total_fen) == (3, 20000 + 5050 + 30000)
    assert second.paid_at is not None


def test_alipay_bill_against_our_books(committed: Committed, alipay: FakeAlipay) -> None:
    settings = alipay_settings(alipay)
    first = paid_at_alipay(committed, settings, alipay, 20000)
    paid_at_alipay(committed, settings, alipay, 5050)
    assert first.paid_at is not None
    day = first.paid_at.astimezone(SHANGHAI).date()
    stray = alipay.add_bill_trade(amount_fen=30000, bill_date=day)
    only_ours = committed.order(paid_at=local(day, 12), amount_fen=7000, channel=ALIPAY)

    run_ids = run_reconciliation(settings, now=utcnow(), channel="alipay", bill_date=day.isoformat())

    run, items = committed.run(ALIPAY, day)
    assert run_ids == [run.id]
    assert run.error == ""
    assert mismatches(items, {*committed.numbers, stray.out_trade_no}) == {
        (MismatchKind.MISSING_LOCALLY, stray.out_trade_no, None, 30000),
        (MismatchKind.MISSING_AT_PROVIDER, only_ours.out_trade_no, 7000, None),
    }
    assert (run.bill_count, run.bill_total_fen) == (3, 20000 + 5050 + 30000)


def test_an_amount_billed_differently_is_an_amount_mismatch(committed: Committed, alipay: FakeAlipay) -> None:
    settings = alipay_settings(alipay)
    order = paid_at_alipay(committed, settings, alipay, 20000)
    alipay.bill_amount(order.out_trade_no, 19900)
    assert order.paid_at is not None
    day = order.paid_at.astimezone(SHANGHAI).date()
    run_reconciliation(settings, now=utcnow(), channel="alipay", bill_date=day.isoformat())
    _, items = committed.run(ALIPAY, day)
    assert mismatches(items, set(committed.numbers)) == {
        (MismatchKind.AMOUNT, order.out_trade_no, 20000, 19900)
    }


def test_a_day_without_trades_is_a_clean_empty_run(committed: Committed, wechat: FakeWechatPay) -> None:
    day = committed.unused_day()
    run_reconciliation(wechat_settings(wechat), now=utcnow(), channel="wechat", bill_date=day.isoformat())
    run, items = committed.run(WECHAT, day)  # WeChat Pay answers NO_STATEMENT_EXIST: an empty bill
    assert (run.error, run.bill_count, run.local_count, run.mismatch_count, items) == ("", 0, 0, 0, [])


def test_the_hourly_call_runs_yesterday_once(committed: Committed, wechat: FakeWechatPay) -> None:
    settings = wechat_settings(wechat)
    order = paid_at_wechat(committed, settings, wechat, 20000)
    assert order.paid_at is not None
    day = order.paid_at.astimezone(SHANGHAI).date()
    ready = local(day + timedelta(days=1), settings.payments.reconcile_hour)
    committed.days.add((WECHAT, day))
    assert run_reconciliation(settings, now=ready - timedelta(seconds=1)) == []
    (run_id,) = run_reconciliation(settings, now=ready)
    run, items = committed.run(WECHAT, day)
    assert run.id == run_id
    assert mismatches(items, set(committed.numbers)) == set()
    assert run.local_count >= 1
    assert run_reconciliation(settings, now=ready + timedelta(minutes=50)) == []  # done for the day


def test_a_provider_error_records_the_run_and_is_raised_for_a_retry(
    committed: Committed, wechat: FakeWechatPay
) -> None:
    settings = wechat_settings(wechat)
    down = settings.model_copy(
        update={"wechatpay": settings.wechatpay.model_copy(update={"api_base": "http://127.0.0.1:9"})}
    )
    day = committed.unused_day()
    with pytest.raises(ProviderError) as caught:
        run_reconciliation(down, now=utcnow(), channel="wechat", bill_date=day.isoformat())
    assert caught.value.code == "provider_unavailable"
    run, items = committed.run(WECHAT, day)
    assert run.error.startswith("provider_unavailable: ")
    assert items == []
    # The retry (or the next hourly call) replaces the failed run with the real result.
    run_reconciliation(settings, now=utcnow(), channel="wechat", bill_date=day.isoformat())
    again, _ = committed.run(WECHAT, day)
    assert (again.id, again.error) == (run.id, "")
