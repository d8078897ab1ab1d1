"""Downloading one day's bill with the channel's adapter and reading it into lines.

Network calls: run with no database transaction open. An empty answer (no trade that day: WeChat
Pay's NO_STATEMENT_EXIST, handled by the adapter) is an empty bill.
"""

from __future__ import annotations

from datetime import date

from core.models import PaymentChannel
from core.settings import Settings
from payments.gateways import alipay_client, wechatpay_client
from payments.reconcile.alipay_bill import parse_bill
from payments.reconcile.lines import BillLine
from payments.reconcile.wechat_bill import parse_trade_bill


def bill_lines(settings: Settings, channel: PaymentChannel, bill_date: date) -> list[BillLine]:
    """Raises ``ProviderError`` / ``SignatureInvalid`` (fetching) or ``BillUnreadable`` (reading)."""
    if channel is PaymentChannel.WECHAT:
        text = wechatpay_client(settings).trade_bill(bill_date)
        return parse_trade_bill(text) if text.strip() else []
    data = alipay_client(settings).bill(bill_date)
    return parse_bill(data) if data else []
