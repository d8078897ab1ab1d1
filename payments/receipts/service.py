"""Receipts of paid orders and who may fetch them; the citizen's payment history.

Access: the logged-in citizen who made the order, or anyone who has both the order's out_trade_no
(random, never shown publicly) and the decision's party name. Everything else — an unknown number, an
order not paid (yet), a wrong name, another citizen — is the same ``ReceiptNotFound``, so the endpoint
cannot tell anybody which orders exist. A number that cannot be one of ours (not 1–32 letters and digits)
gets that same answer without a query.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import datetime

from sqlmodel import Session

from core.models import PaymentOrder
from core.settings import Settings, get_settings
from payments.fines.fees import yuan
from payments.fines.service import normalize_name
from payments.receipts import repository
from payments.receipts.document import Receipt, build_receipt, has_receipt
from payments.receipts.errors import ReceiptNotFound
from payments.receipts.pdf import render_pdf
from payments.receipts.schemas import PaymentHistoryItem, PaymentHistoryPage

log = logging.getLogger("zhcg.payments.receipts")

RECEIPT_PATH = "/api/v1/payments/{out_trade_no}/receipt.pdf"
# What our order numbers look like (``payment_order.out_trade_no``, as WeChat Pay and Alipay accept them).
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z]{1,32}")


def issue(session: Session, *, order_id: int, now: datetime, settings: Settings | None = None) -> Receipt:
    """The receipt of a paid order (what the job ``payments.receipt`` runs once the payment is applied).

    Idempotent and side-effect free: the receipt is derived from the order, its decision and the
    bureau name, and rendered on demand byte for byte the same, so issuing twice yields the same
    receipt (nothing is stored). ``now`` is when it was asked for: logged, it never changes the receipt.
    Raises ``ReceiptNotFound`` when the order does not exist or is not paid.
    """
    settings = settings or get_settings()
    found = repository.order_with_decision(session, order_id=order_id)
    if found is None or not has_receipt(found[0]):
        raise ReceiptNotFound()
    order, decision = found
    receipt = build_receipt(order, decision, bureau_name=settings.payments.bureau_name)
    # Rendered once here so a receipt that cannot be rendered fails the job, not the payer's download;
    # the digest in the log lets anyone check later that a PDF is the one issued.
    digest = hashlib.sha256(render_pdf(receipt)).hexdigest()
    log.info(
        "receipt %s of order %s issued at %s (pdf sha256 %s)",
        receipt.receipt_no,
        order.id,
        now.isoformat(),
        digest,
    )
    return receipt


def _names_match(stored: str, given: str) -> bool:
    expected = normalize_name(stored).encode()
    offered = normalize_name(given).encode()
    return hmac.compare_digest(expected, offered) and bool(offered)


def receipt_for(
    session: Session,
    *,
    out_trade_no: str,
    settings: Settings,
    citizen_id: int | None = None,
    party_name: str | None = None,
) -> Receipt:
    """The receipt when the caller may see it (see the module docstring); ``ReceiptNotFound`` otherwise."""
    number = out_trade_no.strip()
    if not OUT_TRADE_NO.fullmatch(number):  # never sent to the database (a NUL is an error there)
        raise ReceiptNotFound()
    found = repository.order_with_decision(session, out_trade_no=number)
    order, decision = found if found is not None else (None, None)
    allowed = False
    if order is not None and decision is not None:
        by_citizen = citizen_id is not None and order.citizen_id == citizen_id
        by_name = party_name is not None and _names_match(decision.party_name, party_name)
        allowed = (by_citizen or by_name) and has_receipt(order)
    if not allowed or order is None or decision is None:
        raise ReceiptNotFound()
    return build_receipt(order, decision, bureau_name=settings.payments.bureau_name)


def _history_item(order: PaymentOrder, decision_no: str) -> PaymentHistoryItem:
    paid = has_receipt(order)
    return PaymentHistoryItem(
        out_trade_no=order.out_trade_no,
        decision_no=decision_no,
        channel=order.channel,
        status=order.status,
        amount_fen=order.amount_fen,
        amount_yuan=yuan(order.amount_fen),
        fine_fen=order.fine_fen,
        late_fee_fen=order.late_fee_fen,
        created_at=order.created_at,
        paid_at=order.paid_at,
        receipt_no=order.receipt_no if paid else None,
        receipt_url=RECEIPT_PATH.format(out_trade_no=order.out_trade_no) if paid else None,
    )


def history(session: Session, *, citizen_id: int, limit: int, offset: int) -> PaymentHistoryPage:
    """The citizen's payment orders (any status), newest first."""
    rows, total = repository.orders_of_citizen(session, citizen_id, limit=limit, offset=offset)
    return PaymentHistoryPage(items=[_history_item(order, number) for order, number in rows], total=total)
