"""Payment notifications from WeChat Pay and Alipay: verify, store, dedupe, check, settle.

Every notification but a duplicate is stored as received (``payment_notification``: the signature
headers, the raw body — WeChat's resource stays encrypted —, the client address, a verdict and a reason
code):

1. Verification by the adapter (signature, SIGNTEST probes, WeChat's ±5 min timestamp window,
   decryption, app id / merchant id). A failure is **refused**.
2. Checks against our books: app id / merchant id, seller (Alipay ``seller_id`` when configured), a
   success state (WeChat ``SUCCESS``; Alipay ``TRADE_SUCCESS``/``TRADE_FINISHED``; anything else is
   **ignored** and acknowledged), the order exists.
3. In one SAVEPOINT, with the order row locked (``settle.lock_order``): ``settle.settle_paid`` (exact
   amount; the same transaction applied twice is ``already``), then the row is inserted under the
   provider's notification id (WeChat's envelope ``id``, Alipay's ``notify_id``) as its unique
   ``dedupe_key``. When the key is taken — a duplicate, committed before or being committed by a
   concurrent request (which holds the order lock, so this one waits and then sees it) — the savepoint
   is rolled back: the duplicate is acknowledged and changes nothing, and is not stored again.

A refused notification is stored with ``flagged=True`` and ``dedupe_key=None`` (a forged message can
never shadow the real one), and answered so the provider sees a failure and retries. The caller commits
once, whatever the verdict. Logs name the out_trade_no and the verdict only (no payer data).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.kit.clock import SHANGHAI
from core.models import NotificationVerdict, PaymentChannel, PaymentNotification
from payments.alipay import AlipayClient, AlipayNotification
from payments.orders import repository, settle
from payments.providers import SignatureInvalid
from payments.wechatpay import TradeState, WechatNotification, WechatPayClient

log = logging.getLogger("zhcg.payments.notify")

MAX_BODY_CHARS = 64 * 1024
WECHAT_HEADERS = (
    "wechatpay-serial",
    "wechatpay-signature",
    "wechatpay-timestamp",
    "wechatpay-nonce",
    "wechatpay-signature-type",
    "content-type",
)


@dataclass(frozen=True)
class NotifyResult:
    """What happened; ``accepted`` decides the answer (success, or a failure the provider retries)."""

    verdict: NotificationVerdict | None  # None: a duplicate, acknowledged and not stored again
    reason: str = ""
    out_trade_no: str = ""

    @property
    def accepted(self) -> bool:
        return self.verdict is not NotificationVerdict.REFUSED

    @property
    def duplicate(self) -> bool:
        return self.verdict is None


@dataclass(frozen=True)
class _Payment:
    """A verified provider report that an order was paid."""

    out_trade_no: str
    provider_txn_id: str
    paid_fen: int
    paid_at: datetime


def _refuse(session: Session, row: PaymentNotification, reason: str) -> NotifyResult:
    row.verdict = NotificationVerdict.REFUSED
    row.reason = reason[:64]
    row.flagged = True
    row.dedupe_key = None
    repository.add_notification(session, row)
    log.warning("%s notification %s: refused (%s)", row.channel, row.out_trade_no or "-", row.reason)
    return NotifyResult(NotificationVerdict.REFUSED, row.reason, row.out_trade_no)


def _store(session: Session, row: PaymentNotification, dedupe_key: str) -> bool:
    """Insert a verified notification under its dedupe key in a SAVEPOINT of its own; False when the key
    is taken (a duplicate; nothing is stored). No lookup first: duplicates are rare, and the unique index
    decides races anyway (on PostgreSQL a concurrent duplicate waits here until the first one commits,
    then fails)."""
    row.dedupe_key = dedupe_key
    try:
        with session.begin_nested():
            repository.add_notification(session, row)
    except IntegrityError:
        return False
    return True


def _ignore(session: Session, row: PaymentNotification, dedupe_key: str, reason: str) -> NotifyResult:
    row.verdict, row.reason = NotificationVerdict.IGNORED, reason[:64]
    if not _store(session, row, dedupe_key):
        return _duplicate(row)
    log.info("%s notification %s: ignored (%s)", row.channel, row.out_trade_no, row.reason)
    return NotifyResult(NotificationVerdict.IGNORED, row.reason, row.out_trade_no)


class _SettlementConflict(Exception):
    """A constraint of the settlement itself failed (e.g. a provider transaction id used twice)."""


def _apply(session: Session, row: PaymentNotification, dedupe_key: str, payment: _Payment) -> NotifyResult:
    """Lock the order, settle it and store the notification under its dedupe key, all in one SAVEPOINT:
    a duplicate (the key is taken) undoes the settlement, which was then ``already`` anyway — concurrent
    duplicates of one payment queue on the order's row lock and see the first one's commit."""
    order = settle.lock_order(session, payment.out_trade_no)
    if order is None:
        return _refuse(session, row, "unknown_order")
    try:
        with session.begin_nested():
            try:
                settlement = settle.settle_paid(  # flushes its changes
                    session,
                    order,
                    provider_txn_id=payment.provider_txn_id,
                    paid_fen=payment.paid_fen,
                    paid_at=payment.paid_at,
                )
            except IntegrityError as exc:
                raise _SettlementConflict() from exc
            if settlement.outcome is settle.SettleOutcome.ALREADY:
                row.verdict, row.reason = NotificationVerdict.IGNORED, "already_applied"
            elif settlement.outcome is settle.SettleOutcome.NEEDS_REFUND:
                row.verdict, row.reason = NotificationVerdict.APPLIED, f"needs_refund_{settlement.reason}"
            else:
                row.verdict, row.reason = NotificationVerdict.APPLIED, ""
            row.dedupe_key = dedupe_key
            repository.add_notification(session, row)  # the dedupe key's unique index
    except IntegrityError:
        return _duplicate(row)
    except _SettlementConflict:
        return _refuse(session, row, "conflict")
    except (settle.AmountMismatch, settle.TransactionMismatch) as exc:
        return _refuse(session, row, exc.code)
    log.info("%s notification %s: %s %s", row.channel, row.out_trade_no, row.verdict, row.reason)
    return NotifyResult(row.verdict, row.reason, row.out_trade_no)


def _duplicate(row: PaymentNotification) -> NotifyResult:
    log.info("%s notification %s: duplicate", row.channel, row.out_trade_no)
    return NotifyResult(None, "duplicate", row.out_trade_no)


# -- WeChat Pay -------------------------------------------------------------------------------------


def handle_wechat(
    session: Session,
    *,
    client: WechatPayClient,
    headers: Mapping[str, str],
    body: bytes,
    client_ip: str,
    now: datetime,
) -> NotifyResult:
    lowered = {key.lower(): value for key, value in headers.items()}
    text = body.decode("utf-8", "replace")
    row = PaymentNotification(
        channel=PaymentChannel.WECHAT,
        verdict=NotificationVerdict.IGNORED,
        headers=json.dumps({key: lowered[key] for key in WECHAT_HEADERS if key in lowered}, sort_keys=True),
        body=text[:MAX_BODY_CHARS],
        client_ip=client_ip[:64],
        received_at=now,
    )
    if len(text) > MAX_BODY_CHARS:
        return _refuse(session, row, "too_large")
    try:
        notification = client.parse_notification(lowered, body, now=now.timestamp())
    except SignatureInvalid as exc:
        return _refuse(session, row, exc.code)
    row.out_trade_no = notification.out_trade_no[:64]
    dedupe_key = f"wechat:{notification.notification_id}"
    transaction = notification.transaction
    if transaction.mch_id != client.settings.mch_id or transaction.app_id != client.settings.app_id:
        return _refuse(session, row, "app_id_mismatch")
    if notification.trade_state is not TradeState.SUCCESS:
        return _ignore(session, row, dedupe_key, f"state_{notification.trade_state.lower()}")
    payment = _wechat_payment(notification, now=now)
    if payment is None:
        return _refuse(session, row, "bad_notification")
    return _apply(session, row, dedupe_key, payment)


def _wechat_payment(notification: WechatNotification, *, now: datetime) -> _Payment | None:
    transaction = notification.transaction
    if not transaction.transaction_id or transaction.amount_total is None:
        return None
    paid_at = transaction.success_time or now
    if paid_at.tzinfo is None:
        paid_at = paid_at.replace(tzinfo=SHANGHAI)
    return _Payment(
        out_trade_no=transaction.out_trade_no,
        provider_txn_id=transaction.transaction_id,
        paid_fen=transaction.amount_total,
        paid_at=paid_at,
    )


# -- Alipay -----------------------------------------------------------------------------------------


def handle_alipay(
    session: Session,
    *,
    client: AlipayClient,
    form: Mapping[str, str],
    raw_body: bytes,
    client_ip: str,
    now: datetime,
) -> NotifyResult:
    text = raw_body.decode("utf-8", "replace")
    row = PaymentNotification(
        channel=PaymentChannel.ALIPAY,
        verdict=NotificationVerdict.IGNORED,
        headers="{}",
        body=text[:MAX_BODY_CHARS],
        out_trade_no=str(form.get("out_trade_no", ""))[:64],
        client_ip=client_ip[:64],
        received_at=now,
    )
    if len(text) > MAX_BODY_CHARS:
        return _refuse(session, row, "too_large")
    try:
        notification = client.parse_notification(form)
    except SignatureInvalid as exc:
        return _refuse(session, row, exc.code)
    row.out_trade_no = notification.out_trade_no[:64]
    dedupe_key = f"alipay:{notification.notify_id or f'{notification.trade_no}:{notification.trade_status}'}"
    if notification.app_id != client.settings.app_id:
        return _refuse(session, row, "app_id_mismatch")
    seller_id = client.settings.seller_id
    if seller_id and notification.seller_id != seller_id:
        return _refuse(session, row, "seller_mismatch")
    if not notification.paid:
        return _ignore(session, row, dedupe_key, f"state_{notification.trade_status.lower()}")
    return _apply(session, row, dedupe_key, _alipay_payment(notification, form, now=now))


def _alipay_payment(notification: AlipayNotification, form: Mapping[str, str], *, now: datetime) -> _Payment:
    try:
        paid_at = datetime.strptime(str(form.get("gmt_payment", "")), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=SHANGHAI
        )
    except ValueError:
        paid_at = now
    return _Payment(
        out_trade_no=notification.out_trade_no,
        provider_txn_id=notification.trade_no,
        paid_fen=notification.total_amount,
        paid_at=paid_at,
    )
