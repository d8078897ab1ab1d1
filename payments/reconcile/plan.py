"""Which (channel, bill date) pairs a reconciliation job should run.

The job is enqueued hourly by cron with no arguments (cron slots are aligned to UTC, so it cannot be
pinned to a local hour): it then reconciles yesterday (local) for each configured channel, once the
local hour has reached ``settings.payments.reconcile_hour`` (bills are ready by then), and only while
that day has no run yet or its last attempt failed. With a channel or a date it runs exactly that
(default: every configured channel, yesterday), replacing the day's previous result.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from core.errors import Invalid
from core.kit.clock import to_local
from core.models import PaymentChannel
from core.settings import Settings
from payments.reconcile.service import is_due


def configured_channels(settings: Settings) -> list[PaymentChannel]:
    channels: list[PaymentChannel] = []
    if settings.wechatpay.mch_id and settings.wechatpay.app_id:
        channels.append(PaymentChannel.WECHAT)
    if settings.alipay.app_id:
        channels.append(PaymentChannel.ALIPAY)
    return channels


def yesterday(now: datetime) -> date:
    return to_local(now).date() - timedelta(days=1)


def parse_channel(value: str) -> PaymentChannel:
    try:
        return PaymentChannel(value.strip().lower())
    except ValueError as exc:
        raise Invalid("unknown_channel", "未知的支付渠道", channel=value) from exc


def parse_bill_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid("bad_bill_date", "账单日期格式应为 YYYY-MM-DD", bill_date=value) from exc


def targets(
    session: Session,
    settings: Settings,
    *,
    now: datetime,
    channel: str | None = None,
    bill_date: str | None = None,
) -> list[tuple[PaymentChannel, date]]:
    """What to reconcile now (see the module docstring)."""
    if channel is None and bill_date is None:
        local = to_local(now)
        if local.hour < settings.payments.reconcile_hour:
            return []
        day = yesterday(now)
        return [
            (wanted, day)
            for wanted in configured_channels(settings)
            if is_due(session, channel=wanted, bill_date=day)
        ]
    channels = [parse_channel(channel)] if channel is not None else configured_channels(settings)
    day = parse_bill_date(bill_date) if bill_date is not None else yesterday(now)
    return [(wanted, day) for wanted in channels]
