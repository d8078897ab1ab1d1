"""What a provider says about one of our orders, in one shape for both channels (no database).

``ProviderCalls.query`` asks WeChat Pay or Alipay and answers an ``Observation``: paid (with the
provider's transaction id, amount and time: WeChat's ``success_time``, Alipay's ``send_pay_date``),
still open, ended without money, or unknown to the provider (an Alipay trade only exists once the buyer
opened it). ``ProviderCalls.close`` closes the order there; refusals that mean "nothing left to close"
(already paid, already closed, never existed) are not errors, because the caller always queries
afterwards and acts on that answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.models import PaymentChannel
from core.settings import Settings
from payments.alipay import AlipayTrade, TradeStatus
from payments.gateways import alipay_client, wechatpay_client
from payments.providers import ProviderError
from payments.wechatpay import TradeState, WechatTransaction

log = logging.getLogger("zhcg.payments")

# Refusals of a close that leave nothing open to close; the query that follows tells which.
WECHAT_CLOSE_FINAL = frozenset({"ORDERPAID", "ORDER_CLOSED", "ORDER_NOT_EXIST"})
ALIPAY_CLOSE_FINAL = frozenset(
    {"ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_HAS_SUCCESS", "ACQ.TRADE_HAS_CLOSE"}
)
WECHAT_NOT_EXIST = "ORDER_NOT_EXIST"
ALIPAY_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"


class ProviderState(StrEnum):
    PAID = "paid"  # money received (WeChat SUCCESS; Alipay TRADE_SUCCESS / TRADE_FINISHED)
    OPEN = "open"  # the payer may still pay (NOTPAY, USERPAYING, PAYERROR; WAIT_BUYER_PAY)
    ENDED = "ended"  # can no longer be paid and nothing was received (CLOSED, REVOKED; TRADE_CLOSED)
    MISSING = "missing"  # the provider does not know the order
    OTHER = "other"  # a state our books cannot explain (REFUND of an order never applied): staff look


WECHAT_STATES: dict[TradeState, ProviderState] = {
    TradeState.SUCCESS: ProviderState.PAID,
    TradeState.NOTPAY: ProviderState.OPEN,
    TradeState.USERPAYING: ProviderState.OPEN,
    TradeState.PAYERROR: ProviderState.OPEN,
    TradeState.CLOSED: ProviderState.ENDED,
    TradeState.REVOKED: ProviderState.ENDED,
    TradeState.REFUND: ProviderState.OTHER,
}
ALIPAY_STATES: dict[TradeStatus, ProviderState] = {
    TradeStatus.TRADE_SUCCESS: ProviderState.PAID,
    TradeStatus.TRADE_FINISHED: ProviderState.PAID,
    TradeStatus.WAIT_BUYER_PAY: ProviderState.OPEN,
    TradeStatus.TRADE_CLOSED: ProviderState.ENDED,
}


@dataclass(frozen=True)
class Observation:
    state: ProviderState
    provider_state: str = ""  # the provider's own word, for the logs
    txn_id: str | None = None  # WeChat transaction_id / Alipay trade_no (set when paid)
    amount_fen: int | None = None
    paid_at: datetime | None = None  # when the provider says the payer paid (None: not told)

    @property
    def paid(self) -> bool:
        return self.state is ProviderState.PAID


def _refusal_code(exc: ProviderError) -> str:
    """The provider's own error code of a refusal (WeChat ``code``, Alipay ``sub_code``), or ""."""
    if exc.code != "provider_refused":
        return ""
    return str(exc.details.get("provider_sub_code") or exc.details.get("provider_code") or "")


def _checked(expected: str, got: str) -> None:
    if got != expected:
        raise ProviderError(
            "provider_bad_reply", "支付平台返回了另一笔订单", expected=expected, out_trade_no=got
        )


def wechat_observation(transaction: WechatTransaction) -> Observation:
    state = WECHAT_STATES[transaction.trade_state]
    if state is ProviderState.PAID and (
        transaction.transaction_id is None or transaction.amount_total is None
    ):
        raise ProviderError("provider_bad_reply", "微信支付已支付订单缺少交易号或金额")
    return Observation(
        state=state,
        provider_state=transaction.trade_state.value,
        txn_id=transaction.transaction_id,
        amount_fen=transaction.amount_total,
        # WeChat's own payment time; the adapter reads one without a zone as Beijing time
        # (``payments.providers.provider_time``). None (not told) lets the caller use its own clock.
        paid_at=transaction.success_time,
    )


def alipay_observation(trade: AlipayTrade) -> Observation:
    return Observation(
        state=ALIPAY_STATES[trade.trade_status],
        provider_state=trade.trade_status.value,
        txn_id=trade.trade_no or None,
        amount_fen=trade.total_amount,
        # Alipay's own payment time (``send_pay_date``, zone-aware): reconciliation groups by its local
        # day. None (not told) lets the caller use its own clock.
        paid_at=trade.send_pay_date,
    )


class ProviderCalls:
    """Query and close orders at either provider, with the adapters configured by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def query(self, channel: PaymentChannel, out_trade_no: str) -> Observation:
        """Raises ``ProviderError`` (or ``SignatureInvalid`` for a badly signed reply)."""
        try:
            if channel is PaymentChannel.WECHAT:
                transaction = wechatpay_client(self.settings).query_order(out_trade_no)
                _checked(out_trade_no, transaction.out_trade_no)
                return wechat_observation(transaction)
            trade = alipay_client(self.settings).query_order(out_trade_no)
            _checked(out_trade_no, trade.out_trade_no)
            return alipay_observation(trade)
        except ProviderError as exc:
            if _refusal_code(exc) in (WECHAT_NOT_EXIST, ALIPAY_NOT_EXIST):
                return Observation(ProviderState.MISSING, provider_state=_refusal_code(exc))
            raise

    def close(self, channel: PaymentChannel, out_trade_no: str) -> None:
        """Close the order at its provider; raises ``ProviderError`` unless it is closed or settled there."""
        final = WECHAT_CLOSE_FINAL if channel is PaymentChannel.WECHAT else ALIPAY_CLOSE_FINAL
        try:
            if channel is PaymentChannel.WECHAT:
                wechatpay_client(self.settings).close_order(out_trade_no)
            else:
                alipay_client(self.settings).close_order(out_trade_no)
        except ProviderError as exc:
            code = _refusal_code(exc)
            if code not in final:
                raise
            log.info("close of %s at %s refused with %s: the query decides", out_trade_no, channel, code)
