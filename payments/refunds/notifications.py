"""WeChat Pay's refund notifications (REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED) as received.

As for payment notifications (``payments.orders.notify``), every notification is stored in
``payment_notification``: a verified one under its notification id (``dedupe_key``, claimed in a
SAVEPOINT, so a duplicate or a replay is acknowledged and changes nothing). A refused one — unverifiable,
or genuine but not matching our books (unknown out_refund_no: ``unknown_refund``, another order:
``refund_mismatch``, another amount: ``amount_mismatch``) — is stored without a key, flagged for staff,
changes nothing and is answered as a failure, so WeChat Pay retries it (a retry may pass once our
configuration or data is fixed). Bodies are stored as text any database keeps (``storable``: at most
64 KiB, bytes that are not UTF-8 and NUL escaped), so even a garbage POST is stored flagged, never a 500.

A notification about an earlier number of a refund that staff retried since (``service.is_earlier_number``)
is ours: REFUND.SUCCESS still counts (the money went back; the provider then refuses the new attempt, as it
never refunds more than was paid), anything else about it is acknowledged and ignored
(``earlier_attempt``).
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
from payments.notifications_common import MAX_BODY_BYTES, log_duplicate, store_refused
from payments.providers import SignatureInvalid
from payments.refunds import repository, service
from payments.wechatpay import WechatPayClient, WechatRefundNotification, WechatRefundStatus

log = logging.getLogger("zhcg.payments.refunds")

# What is kept of a notification as received (a refund notification is about 1 KiB).
MAX_HEADERS_BYTES = 4 * 1024
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


def storable(text: bytes | str, limit: int = MAX_BODY_BYTES) -> str:
    """What we received as text any database stores: at most ``limit`` bytes, bytes that are not UTF-8
    as ``\\xNN`` escapes, and NUL (which PostgreSQL's text refuses) as ``\\x00``."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return raw[:limit].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _signature_headers(headers: Mapping[str, str]) -> str:
    lowered = {key.lower(): value for key, value in headers.items()}
    picked = {key: lowered[key] for key in SIGNATURE_HEADERS if key in lowered}
    return storable(json.dumps(picked, ensure_ascii=False), MAX_HEADERS_BYTES)


def receive_wechat_refund(
    session: Session,
    *,
    client: WechatPayClient,
    headers: Mapping[str, str],
    body: bytes,
    client_ip: str,
    now: datetime,
) -> NotifyAnswer:
    record = PaymentNotification(
        channel=PaymentChannel.WECHAT,
        verdict=NotificationVerdict.REFUSED,
        headers=_signature_headers(headers),
        body=storable(body),
        client_ip=storable(client_ip, 64),
        received_at=now,
    )
    if len(body) > MAX_BODY_BYTES:  # a refund notification is about 1 KiB
        return _refuse(session, record, "too_large")
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
    store_refused(session, record, reason, log=log, what="wechat refund notification")
    return NotifyAnswer(NotificationVerdict.REFUSED, record.reason)


def _duplicate(record: PaymentNotification) -> NotifyAnswer:
    log_duplicate(record, log=log, what="wechat refund notification")
    return NotifyAnswer(None, "duplicate")


def _apply(
    session: Session, notification: WechatRefundNotification, *, now: datetime
) -> tuple[NotificationVerdict, str]:
    reported = notification.refund
    refund = repository.lock_refund_by_no(session, reported.out_refund_no)
    earlier = False
    if refund is None:
        # A number this refund carried before staff retried it (see ``service.is_earlier_number``).
        refund = repository.lock_refund_of_trade(session, reported.out_trade_no)
        if refund is None or not service.is_earlier_number(refund, reported.out_refund_no):
            return NotificationVerdict.REFUSED, "unknown_refund"
        earlier = True
    order = repository.get_order(session, refund.order_id)
    if order is None or order.out_trade_no != reported.out_trade_no:
        return NotificationVerdict.REFUSED, "refund_mismatch"
    if reported.refund_fen != refund.amount_fen:
        return NotificationVerdict.REFUSED, "amount_mismatch"
    if reported.status is WechatRefundStatus.SUCCESS:
        outcome = service.RefundOutcome(
            RefundStatus.SUCCEEDED,
            provider_refund_id=reported.refund_id,
            finished_at=reported.success_time,
            out_refund_no=reported.out_refund_no,
        )
    elif earlier:
        return NotificationVerdict.IGNORED, "earlier_attempt"  # only the money going back counts
    elif reported.status is WechatRefundStatus.PROCESSING:
        return NotificationVerdict.IGNORED, "not_final"
    else:
        outcome = service.RefundOutcome(
            RefundStatus.FAILED,
            provider_refund_id=reported.refund_id,
            failure=f"wechat:{reported.status.value}",
            out_refund_no=reported.out_refund_no,
        )
    if service.apply_outcome(session, refund.id or 0, outcome, now=now):
        return NotificationVerdict.APPLIED, ""
    return NotificationVerdict.IGNORED, "already"
