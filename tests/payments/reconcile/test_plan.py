"""What a reconciliation job runs: hourly with no arguments only yesterday's due days after the
configured local hour; with arguments exactly what was asked."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from core.errors import Invalid
from core.models import PaymentChannel
from core.settings import Settings, get_settings
from payments.reconcile import plan, service
from payments.reconcile.errors import BillUnreadable
from tests.payments.reconcile.books import local

TODAY = date(2026, 11, 21)
YESTERDAY = date(2026, 11, 20)
WECHAT, ALIPAY = PaymentChannel.WECHAT, PaymentChannel.ALIPAY


def settings_with(*, wechat: bool = True, alipay: bool = True, hour: int = 10) -> Settings:
    base = get_settings()
    return base.model_copy(
        update={
            "wechatpay": base.wechatpay.model_copy(
                update={
                    "mch_id": "1900000109" if wechat else "",
                    "app_id": "wx6f2b6e7a0c5d4e3f" if wechat else "",
                }
            ),
            "alipay": base.alipay.model_copy(update={"app_id": "2021000000000001" if alipay else ""}),
            "payments": base.payments.model_copy(update={"reconcile_hour": hour}),
        }
    )


def test_configured_channels() -> None:
    assert plan.configured_channels(settings_with()) == [WECHAT, ALIPAY]
    assert plan.configured_channels(settings_with(wechat=False)) == [ALIPAY]
    assert plan.configured_channels(settings_with(alipay=False)) == [WECHAT]
    assert plan.configured_channels(settings_with(wechat=False, alipay=False)) == []


def test_yesterday_is_the_local_day_before() -> None:
    assert plan.yesterday(local(TODAY, 0, 30)) == YESTERDAY  # 16:30 UTC the day before
    assert plan.yesterday(local(TODAY, 23, 59)) == YESTERDAY


def test_hourly_call_waits_for_the_local_hour(session: Session) -> None:
    settings = settings_with(hour=10)
    assert plan.targets(session, settings, now=local(TODAY, 9, 59)) == []
    assert plan.targets(session, settings, now=local(TODAY, 10, 0)) == [
        (WECHAT, YESTERDAY),
        (ALIPAY, YESTERDAY),
    ]
    assert plan.targets(session, settings, now=local(TODAY, 23, 0)) == [
        (WECHAT, YESTERDAY),
        (ALIPAY, YESTERDAY),
    ]


def test_hourly_call_skips_a_day_done_and_retries_a_day_failed(session: Session) -> None:
    settings = settings_with(hour=0)
    now = local(TODAY, 11)
    service.reconcile(session, channel=WECHAT, bill_date=YESTERDAY, bill_lines=[], now=now)
    service.record_failure(session, channel=ALIPAY, bill_date=YESTERDAY, error=BillUnreadable("坏"), now=now)
    assert plan.targets(session, settings, now=now) == [(ALIPAY, YESTERDAY)]
    service.reconcile(session, channel=ALIPAY, bill_date=YESTERDAY, bill_lines=[], now=now)
    assert plan.targets(session, settings, now=now) == []


def test_hourly_call_only_for_configured_channels(session: Session) -> None:
    assert plan.targets(session, settings_with(alipay=False, hour=0), now=local(TODAY, 1)) == [
        (WECHAT, YESTERDAY)
    ]
    assert plan.targets(session, settings_with(wechat=False, alipay=False, hour=0), now=local(TODAY, 1)) == []


def test_arguments_run_exactly_what_was_asked(session: Session) -> None:
    settings = settings_with(hour=23)
    now = local(TODAY, 1)  # before the hour: arguments are not held back
    service.reconcile(session, channel=WECHAT, bill_date=YESTERDAY, bill_lines=[], now=now)
    assert plan.targets(session, settings, now=now, channel="wechat") == [(WECHAT, YESTERDAY)]
    assert plan.targets(session, settings, now=now, bill_date="2026-10-01") == [
        (WECHAT, date(2026, 10, 1)),
        (ALIPAY, date(2026, 10, 1)),
    ]
    assert plan.targets(session, settings, now=now, channel=" Alipay ", bill_date="2026-10-01") == [
        (ALIPAY, date(2026, 10, 1))
    ]


@pytest.mark.parametrize(
    ("channel", "bill_date", "code"),
    [
        ("unionpay", None, "unknown_channel"),
        (None, "2026/10/01", "bad_bill_date"),
        (None, "2026-02-30", "bad_bill_date"),
    ],
)
def test_bad_arguments_are_domain_errors(
    session: Session, channel: str | None, bill_date: str | None, code: str
) -> None:
    with pytest.raises(Invalid) as caught:
        plan.targets(session, settings_with(), now=local(TODAY, 11), channel=channel, bill_date=bill_date)
    assert caught.value.code == code
