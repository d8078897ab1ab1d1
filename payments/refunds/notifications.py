"""WeChat Pay's refund notifications (REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED) as received.

As for payment notifications (``payments.orders.notify``), every notification is stored in
``payment_notification``: a verified one under its notification id (``dedupe_key``, claimed in a
SAVEPOINT, so a duplicate or a replay is acknowledged and changes nothing). A refused one — unverifiable,
or genuine but not matching our books (unknown out_refund_no: ``unknown_refund``, another order:
``refund_mismatch``, another amount: ``amount_mismatch``) — is stored without a key, flagged for staff,
changes nothing and is answered as a failure, so WeChat Pay retries it (a retry may pass once our
configuration or data is fixed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.models import NotificationVerdict, PaymentChannel, PaymentNotification, RefundStatus
from payments.providers import SignatureInvalid
from payments.refunds import repository, service
from payments.wechatpay import WechatPayClient, WechatRefundNotification, WechatRefundStatus

log = logging.getLogger("zhcg.payments.refunds")

SIGNATURE_HEADERS = (
    "wechatpay-serial",
    "wechatpay-signature",
    "wechatpay-timestamp",
    "wechatpay-nonce",
    "wechatpay-signature-type",
)


@dataclass(frozen=True)
class NotifyAnswer:
    verdict: NotificationVerdict | None  # None: a duplicate (nothing stored)
    reason: str = ""

    @property
    def accepted(self) -> bool:
        """Answer 204; otherwise 400 with ``{"code": "FAIL", "message"}`` (WeChat Pay retries)."""
        return self.verdict is not NotificationVerdict.REFUSED


def _signature_headers(headers: Mapping[str, str]) -> str:
    lowered = {key.lower(): value for key, value in headers.items()}
    return json.dumps({key: lowered[key] for key in SIGNATURE_HEADERS if key in lowered}, ensure_ascii=False)


def receive_wechat_refund(
    session: Session,
    *,
    client: WechatPayClient,
    headers: Mapping[str, str],
    body: bytes,
    client_ip: str,
    now: datetime,
) -> NotifyAnswer:
    text = body.decode("utf-8", "replace")
    record = PaymentNotification(
        channel=PaymentChannel.WECHAT,
        verdict=NotificationVerdict.REFUSED,
        headers=_signature_headers(headers),
        body=text,
        client_ip=client_ip[:64],
        received_at=now,
    )
    try:
        notification = client.parse_refund_notification(headers, body)
    except SignatureInvalid as exc:
        return _refuse(session, record, exc.code)
    key = notification.notification_id[:128]
    record.out_trade_no = notification.refund.out_trade_no[:64]
    if repository.notification_seen(session, key):
        return _duplicate(record)
    record.dedupe_key = key
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:  # the same notification, being stored by a concurrent request
        return _duplicate(record)
    verdict, reason = _apply(session, notification, now=now)
    if verdict is NotificationVerdict.REFUSED:
        return _refuse(session, record, reason)
    record.verdict, record.reason = verdict, reason
    session.add(record)
    session.flush()
    log.info("wechat refund notification %s: %s %s", record.out_trade_no, verdict, reason)
    return NotifyAnswer(verdict, reason)


def _refuse(session: Session, record: PaymentNotification, reason: str) -> NotifyAnswer:
    record.verdict = NotificationVerdict.REFUSED
    record.reason = reason[:64]
    record.flagged = True
    record.dedupe_key = None  # a refused message never shadows the real one
    session.add(record)
    session.flush()
    log.warning("wechat refund notification %s: refused (%s)", record.out_trade_no or "-", record.reason)
    return NotifyAnswer(NotificationVerdict.REFUSED, record.reason)


def _duplicate(record: PaymentNotification) -> NotifyAnswer:
    log.info("wechat refund notification %s: duplicate", record.out_trade_no)
    return NotifyAnswer(None, "duplicate")


def _apply(
    session: Session, notification: WechatRefundNotification, *, now: datetime
) -> tuple[NotificationVerdict, str]:
    reported = notification.refund
    refund = repository.lock_refund_by_no(session, reported.out_refund_no)
    if refund is None:
        return NotificationVerdict.REFUSED, "unknown_refund"
    order = repository.get_order(session, refund.order_id)
    if order is None or order.out_trade_no != reported.out_trade_no:
        return NotificationVerdict.REFUSED, "refund_mismatch"
    if reported.refund_fen != refund.amount_fen:
        return NotificationVerdict.REFUSED, "amount_mismatch"
    if reported.status is WechatRefundStatus.SUCCESS:
        outcome = service.RefundOutcome(
            RefundStatus.SUCCEEDED, provider_refund_id=reported.refund_id, finished_at=reported.success_time
        )
    elif reported.status is WechatRefundStatus.PROCESSING:
        return NotificationVerdict.IGNORED, "not_final"
    else:
        outcome = service.RefundOutcome(
            RefundStatus.FAILED,
            provider_refund_id=reported.refund_id,
            failure=f"wechat:{reported.status.value}",
        )
    if service.apply_outcome(session, refund.id or 0, outcome, now=now):
        return NotificationVerdict.APPLIED, ""
    return NotificationVerdict.IGNORED, "already"
