"""Refunds at the providers: send one, ask about one, and translate the answer into a ``RefundOutcome``.

Called with no transaction open (the job reads the ``RefundCall`` first, commits, calls, then applies
the outcome in a new transaction). Both providers key refunds on our ``out_refund_no``, so sending the
same refund again is safe: WeChat Pay answers the existing refund, Alipay answers ``fund_change`` N.

A definite refusal (an unpaid order, more than was paid, an insufficient balance…) is an outcome
(FAILED, with the provider's code); anything that may pass on a retry (unreachable, 5xx, rate limits,
our own signature rejected, an unverifiable reply) is raised, so the job is retried.

Every outcome names the ``out_refund_no`` it is about: a refund retried meanwhile under a new number
ignores a late answer about its old one (unless that answer says the money went back).
"""

from __future__ import annotations

from dataclasses import replace

from core.models import PaymentChannel, RefundStatus
from core.settings import Settings
from payments.alipay import AlipayClient
from payments.gateways import alipay_client, wechatpay_client
from payments.providers import ProviderError
from payments.refunds.service import RefundCall, RefundOutcome
from payments.wechatpay import WechatRefund, WechatRefundStatus

# WeChat Pay HTTP statuses and codes that a retry may get past.
WECHAT_RETRY_STATUSES = (401, 429)
WECHAT_RETRY_CODES = ("SYSTEM_ERROR", "FREQUENCY_LIMITED")
# Alipay business failures (code 40004) that are not definite.
ALIPAY_RETRY_SUB_CODES = ("ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR")
ALIPAY_BUSINESS_FAILED = "40004"


def wechat_outcome(refund: WechatRefund) -> RefundOutcome:
    if refund.status is WechatRefundStatus.SUCCESS:
        return RefundOutcome(
            RefundStatus.SUCCEEDED, provider_refund_id=refund.refund_id, finished_at=refund.success_time
        )
    if refund.status is WechatRefundStatus.PROCESSING:
        return RefundOutcome(RefundStatus.PROCESSING, provider_refund_id=refund.refund_id)
    return RefundOutcome(
        RefundStatus.FAILED, provider_refund_id=refund.refund_id, failure=f"wechat:{refund.status.value}"
    )


def _refused(exc: ProviderError, channel: PaymentChannel) -> RefundOutcome | None:
    """A definite refusal as a FAILED outcome; None when the error may pass on a retry."""
    if exc.code != "provider_refused":
        return None
    details = exc.details
    if channel is PaymentChannel.WECHAT:
        if (
            details.get("status") in WECHAT_RETRY_STATUSES
            or details.get("provider_code") in WECHAT_RETRY_CODES
        ):
            return None
        code, message = details.get("provider_code", ""), details.get("provider_message", "")
    else:
        if details.get("provider_code") != ALIPAY_BUSINESS_FAILED:
            return None
        if details.get("provider_sub_code") in ALIPAY_RETRY_SUB_CODES:
            return None
        code, message = details.get("provider_sub_code", ""), details.get("provider_message", "")
    return RefundOutcome(RefundStatus.FAILED, failure=f"{channel.value}:{code} {message}".strip())


def _alipay_confirm(client: AlipayClient, call: RefundCall, *, missing: RefundStatus) -> RefundOutcome:
    found = client.query_refund(call.out_trade_no, call.out_refund_no)
    if found.refunded and found.refund_fen == call.amount_fen:
        return RefundOutcome(RefundStatus.SUCCEEDED, finished_at=found.gmt_refund_pay)
    return RefundOutcome(missing)


def send(settings: Settings, call: RefundCall) -> RefundOutcome:
    """Send the refund to its provider (again, when retried)."""
    return replace(_send(settings, call), out_refund_no=call.out_refund_no)


def query(settings: Settings, call: RefundCall) -> RefundOutcome:
    """Ask the provider where an unfinished refund stands (never sends one). REQUESTED: the provider does
    not know it (or, for Alipay, has not refunded it): send it (again)."""
    return replace(_query(settings, call), out_refund_no=call.out_refund_no)


def _send(settings: Settings, call: RefundCall) -> RefundOutcome:
    try:
        if call.channel is PaymentChannel.WECHAT:
            refund = wechatpay_client(settings).refund(
                out_trade_no=call.out_trade_no,
                out_refund_no=call.out_refund_no,
                amount_fen=call.amount_fen,
                total_fen=call.total_fen,
                reason=call.reason,
            )
            return wechat_outcome(refund)
        client = alipay_client(settings)
        answer = client.refund(
            out_trade_no=call.out_trade_no,
            out_request_no=call.out_refund_no,
            amount_fen=call.amount_fen,
            reason=call.reason,
        )
        if answer.fund_change:
            return RefundOutcome(RefundStatus.SUCCEEDED, finished_at=answer.gmt_refund_pay)
        # No money moved by this call: refunded before (a retry) or not yet. Ask.
        return _alipay_confirm(client, call, missing=RefundStatus.PROCESSING)
    except ProviderError as exc:
        outcome = _refused(exc, call.channel)
        if outcome is None:
            raise
        return outcome


def _query(settings: Settings, call: RefundCall) -> RefundOutcome:
    if call.channel is PaymentChannel.WECHAT:
        try:
            return wechat_outcome(wechatpay_client(settings).query_refund(call.out_refund_no))
        except ProviderError as exc:
            if exc.details.get("provider_code") == "RESOURCE_NOT_EXISTS":
                return RefundOutcome(RefundStatus.REQUESTED)  # never arrived: to be sent
            raise
    return _alipay_confirm(alipay_client(settings), call, missing=RefundStatus.REQUESTED)
