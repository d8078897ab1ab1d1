"""Payment notifications from WeChat Pay and Alipay: verify, store, dedupe, check, settle.

Every notification but a duplicate is stored as received (``payment_notification``: the signature
headers, the raw body — WeChat's resource stays encrypted —, the client address, a verdict and a reason
code):

1. Verification by the adapter (signature, SIGNTEST probes, WeChat's ±5 min timestamp window,
   decryption, app id / merchant id). A failure is **refused**.
2. Checks against our books: app id / merchant id, seller (Alipay ``seller_id`` when configured), a
   success state (WeChat ``SUCCESS``; Alipay ``TRADE_SUCCESS``/``TRADE_FINISHED``; anything else is
   **ignored** and acknowledged), the order exists.
3. With the order row locked (``settle.lock_order``): ``settle.settle_paid`` (exact amount; the same
   transaction applied twice is ``already``), then the row is inserted under the provider's
   notification id (WeChat's envelope ``id``, Alipay's ``notify_id``) as its unique ``dedupe_key``
   with ``ON CONFLICT DO NOTHING``. When the key is taken — a duplicate, committed before or being
   committed by a concurrent request (which holds the order lock, so this one waits and then sees the
   order settled: ``already``, nothing changed) — the duplicate is acknowledged and not stored again.

Stored text is made storable whatever arrives: the body is decoded with replacement characters, NUL is
escaped as ``\\u0000`` (PostgreSQL text refuses it) and it is capped at 64 KiB (UTF-8 bytes; a larger
body is refused as ``too_large``); a body that is not UTF-8 is refused as ``bad_encoding`` before
verification. Alipay's buyer identifiers (``buyer_logon_id``, ``buyer_id``, ``buyer_open_id``) are
redacted in the stored body (first two and last two characters kept); verification reads the form, never
the stored copy. Provider times without a zone are Beijing time; "now" is used only when the provider
gave no time.

A refused notification is stored with ``flagged=True`` and ``dedupe_key=None`` (a forged message can
never shadow the real one), and answered so the provider sees a failure and retries. The caller commits
once, whatever the verdict. Logs name the out_trade_no and the verdict only (no payer data).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus, unquote_plus

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.kit.clock import SHANGHAI
from core.models import NotificationVerdict, PaymentChannel, PaymentNotification
from payments.alipay import AlipayClient, AlipayNotification
from payments.notifications_common import MAX_BODY_BYTES, log_duplicate, store_refused
from payments.orders import repository, settle
from payments.providers import SignatureInvalid
from payments.wechatpay import TradeState, WechatNotification, WechatPayClient

log = logging.getLogger("zhcg.payments.notify")

# Alipay form fields naming the buyer: redacted in the stored body.
ALIPAY_BUYER_FIELDS = ("buyer_logon_id", "buyer_id", "buyer_open_id")
_ALIPAY_BUYER_FIELD = re.compile(r"(?:^|(?<=&))(" + "|".join(ALIPAY_BUYER_FIELDS) + r")=([^&]*)")
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


def storable(text: str, limit: int = MAX_BODY_BYTES) -> str:
    """``text`` as it can be stored: NUL escaped, at most ``limit`` UTF-8 bytes (cut on a character)."""
    escaped = text.replace("\x00", "\\u0000")
    return escaped.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")


def redact(value: str) -> str:
    """Keep the first two and the last two characters (all masked when that would show everything)."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def redact_alipay_body(text: str) -> str:
    """The form body with the buyer identifiers' values redacted, everything else as received."""

    def _redacted(match: re.Match[str]) -> str:
        return f"{match.group(1)}={quote_plus(redact(unquote_plus(match.group(2))))}"

    return _ALIPAY_BUYER_FIELD.sub(_redacted, text)


def _decoded(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def provider_time(value: datetime | str | None, *, now: datetime) -> datetime | None:
    """One rule for provider times: no zone means Beijing time; no time at all means ``now``. None when
    a time was given but cannot be read."""
    if value is None or value == "":
        return now
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)


def _refuse(session: Session, row: PaymentNotification, reason: str) -> NotifyResult:
    store_refused(session, row, reason, log=log, what=f"{row.channel} notification")
    return NotifyResult(NotificationVerdict.REFUSED, row.reason, row.out_trade_no)


def _ignore(session: Session, row: PaymentNotification, dedupe_key: str, reason: str) -> NotifyResult:
    row.verdict, row.reason, row.dedupe_key = NotificationVerdict.IGNORED, reason[:64], dedupe_key
    if not repository.add_notification_once(session, row):
        return _duplicate(row)
    log.info("%s notification %s: ignored (%s)", row.channel, row.out_trade_no, row.reason)
    return NotifyResult(NotificationVerdict.IGNORED, row.reason, row.out_trade_no)


def _apply(session: Session, row: PaymentNotification, dedupe_key: str, payment: _Payment) -> NotifyResult:
    """Lock the order, settle it, then store the notification under its dedupe key.

    No savepoint: a duplicate (its key already stored, or being stored by a concurrent request that
    holds the order's lock, so this one waits and then sees the paid order) finds the order settled by
    the same transaction, so ``settle_paid`` answers ``already`` and changes nothing; the insert then
    does nothing (``ON CONFLICT DO NOTHING``). The amount and transaction checks raise before any change.
    Only a last-guard constraint failing during the settlement (a provider transaction id used for two
    orders, a second paid order of a decision) leaves changes to undo: the whole transaction — locks
    and the failed settlement, nothing else — is rolled back and the notification stored refused."""
    order = settle.lock_order(session, payment.out_trade_no)
    if order is None:
        return _refuse(session, row, "unknown_order")
    try:
        settlement = settle.settle_paid(  # flushes its changes
            session,
            order,
            provider_txn_id=payment.provider_txn_id,
            paid_fen=payment.paid_fen,
            paid_at=payment.paid_at,
        )
    except IntegrityError:
        session.rollback()
        return _refuse(session, row, "conflict")
    except (settle.AmountMismatch, settle.TransactionMismatch) as exc:
        return _refuse(session, row, exc.code)
    if settlement.outcome is settle.SettleOutcome.ALREADY:
        row.verdict, row.reason = NotificationVerdict.IGNORED, "already_applied"
    elif settlement.outcome is settle.SettleOutcome.NEEDS_REFUND:
        row.verdict, row.reason = NotificationVerdict.APPLIED, f"needs_refund_{settlement.reason}"
    else:
        row.verdict, row.reason = NotificationVerdict.APPLIED, ""
    row.dedupe_key = dedupe_key
    if not repository.add_notification_once(session, row):
        if settlement.outcome is not settle.SettleOutcome.ALREADY:
            # Cannot happen (see above); if it ever does, keep neither the settlement nor the row.
            session.rollback()
            return _refuse(session, row, "conflict")
        return _duplicate(row)
    log.info("%s notification %s: %s %s", row.channel, row.out_trade_no, row.verdict, row.reason)
    return NotifyResult(row.verdict, row.reason, row.out_trade_no)


def _duplicate(row: PaymentNotification) -> NotifyResult:
    log_duplicate(row, log=log, what=f"{row.channel} notification")
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
    text = _decoded(body)
    row = PaymentNotification(
        channel=PaymentChannel.WECHAT,
        verdict=NotificationVerdict.IGNORED,
        headers=storable(
            json.dumps({key: lowered[key] for key in WECHAT_HEADERS if key in lowered}, sort_keys=True)
        ),
        body=storable(body.decode("utf-8", "replace")),
        client_ip=storable(client_ip, 64),
        received_at=now,
    )
    if len(body) > MAX_BODY_BYTES:
        return _refuse(session, row, "too_large")
    if text is None:
        return _refuse(session, row, "bad_encoding")
    try:
        notification = client.parse_notification(lowered, body, now=now.timestamp())
    except SignatureInvalid as exc:
        return _refuse(session, row, exc.code)
    row.out_trade_no = storable(notification.out_trade_no, 64)
    dedupe_key = storable(f"wechat:{notification.notification_id}", 128)
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
    paid_at = provider_time(transaction.success_time, now=now)
    if not transaction.transaction_id or transaction.amount_total is None or paid_at is None:
        return None
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
    text = _decoded(raw_body)
    row = PaymentNotification(
        channel=PaymentChannel.ALIPAY,
        verdict=NotificationVerdict.IGNORED,
        headers="{}",
        body=storable(redact_alipay_body(raw_body.decode("utf-8", "replace"))),
        out_trade_no=storable(str(form.get("out_trade_no", "")), 64),
        client_ip=storable(client_ip, 64),
        received_at=now,
    )
    if len(raw_body) > MAX_BODY_BYTES:
        return _refuse(session, row, "too_large")
    if text is None:
        return _refuse(session, row, "bad_encoding")
    try:
        notification = client.parse_notification(form)
    except SignatureInvalid as exc:
        return _refuse(session, row, exc.code)
    row.out_trade_no = storable(notification.out_trade_no, 64)
    notify_id = notification.notify_id or f"{notification.trade_no}:{notification.trade_status}"
    dedupe_key = storable(f"alipay:{notify_id}", 128)
    if notification.app_id != client.settings.app_id:
        return _refuse(session, row, "app_id_mismatch")
    seller_id = client.settings.seller_id
    if seller_id and notification.seller_id != seller_id:
        return _refuse(session, row, "seller_mismatch")
    if not notification.paid:
        return _ignore(session, row, dedupe_key, f"state_{notification.trade_status.lower()}")
    payment = _alipay_payment(notification, form, now=now)
    if payment is None:
        return _refuse(session, row, "bad_notification")
    return _apply(session, row, dedupe_key, payment)


def _alipay_payment(
    notification: AlipayNotification, form: Mapping[str, str], *, now: datetime
) -> _Payment | None:
    paid_at = provider_time(form.get("gmt_payment"), now=now)  # "yyyy-MM-dd HH:mm:ss", Beijing time
    if paid_at is None:
        return None
    return _Payment(
        out_trade_no=notification.out_trade_no,
        provider_txn_id=notification.trade_no,
        paid_fen=notification.total_amount,
        paid_at=paid_at,
    )
