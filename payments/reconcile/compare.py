"""Comparing a provider's bill for one day with our books for that day: pure, no database.

Payments are matched on our ``out_trade_no``, refunds on our ``out_refund_no``:

- a bill payment with no paid order of that day in our books (or a second one for the same order, or
  one with another provider transaction than the one we recorded) → ``MISSING_LOCALLY``;
- a paid order of that day absent from the bill → ``MISSING_AT_PROVIDER``;
- both, different amounts → ``AMOUNT``;
- a refund in one and not in the other, or with another amount or order → ``REFUND``.

Totals: ``count`` is the number of payments plus refunds, ``net_fen`` what came in minus what went out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.models import MismatchKind
from payments.reconcile.lines import BillKind, BillLine

KIND_ORDER = {kind: position for position, kind in enumerate(MismatchKind)}


@dataclass(frozen=True)
class BookPayment:
    """An order our books hold as paid (paid, needs_refund or refunded)."""

    out_trade_no: str
    provider_txn_id: str
    amount_fen: int


@dataclass(frozen=True)
class BookRefund:
    """A refund our books hold as succeeded."""

    out_refund_no: str
    out_trade_no: str
    provider_txn_id: str  # of the payment refunded
    amount_fen: int


@dataclass(frozen=True)
class Mismatch:
    kind: MismatchKind
    out_trade_no: str
    provider_txn_id: str = ""
    local_fen: int | None = None
    bill_fen: int | None = None
    detail: str = ""
    out_refund_no: str = ""


@dataclass(frozen=True)
class Totals:
    payments: int = 0
    payments_fen: int = 0
    refunds: int = 0
    refunds_fen: int = 0

    @property
    def count(self) -> int:
        return self.payments + self.refunds

    @property
    def net_fen(self) -> int:
        return self.payments_fen - self.refunds_fen


@dataclass(frozen=True)
class Comparison:
    mismatches: tuple[Mismatch, ...]
    bill: Totals
    books: Totals


def bill_totals(lines: Iterable[BillLine]) -> Totals:
    paid = refunded = 0
    paid_fen = refunded_fen = 0
    for line in lines:
        if line.kind is BillKind.PAYMENT:
            paid, paid_fen = paid + 1, paid_fen + line.amount_fen
        else:
            refunded, refunded_fen = refunded + 1, refunded_fen + line.amount_fen
    return Totals(paid, paid_fen, refunded, refunded_fen)


def book_totals(payments: Iterable[BookPayment], refunds: Iterable[BookRefund]) -> Totals:
    paid = list(payments)
    refunded = list(refunds)
    return Totals(
        len(paid),
        sum(payment.amount_fen for payment in paid),
        len(refunded),
        sum(refund.amount_fen for refund in refunded),
    )


def compare(
    lines: Iterable[BillLine], payments: Iterable[BookPayment], refunds: Iterable[BookRefund]
) -> Comparison:
    """Every mismatch between the bill's lines and the day's books, in a stable order."""
    bill = list(lines)
    paid = list(payments)
    refunded = list(refunds)
    mismatches = [
        *_payment_mismatches([line for line in bill if line.kind is BillKind.PAYMENT], paid),
        *_refund_mismatches([line for line in bill if line.kind is BillKind.REFUND], refunded),
    ]
    mismatches.sort(key=lambda m: (m.out_trade_no, KIND_ORDER[m.kind], m.out_refund_no, m.provider_txn_id))
    return Comparison(tuple(mismatches), bill_totals(bill), book_totals(paid, refunded))


def _ordered(lines: list[BillLine]) -> list[BillLine]:
    return sorted(lines, key=lambda line: (line.out_trade_no, line.provider_txn_id, line.amount_fen))


def _payment_mismatches(lines: list[BillLine], payments: list[BookPayment]) -> list[Mismatch]:
    books = {payment.out_trade_no: payment for payment in payments}
    matched: set[str] = set()
    found: list[Mismatch] = []
    for line in _ordered(lines):
        book = books.get(line.out_trade_no)
        if book is None or line.out_trade_no in matched:
            detail = "账单中重复的收款" if book is not None else "账单有此笔收款，本地当日无已支付记录"
            found.append(
                Mismatch(
                    MismatchKind.MISSING_LOCALLY,
                    line.out_trade_no,
                    line.provider_txn_id,
                    bill_fen=line.amount_fen,
                    detail=detail,
                )
            )
            continue
        matched.add(line.out_trade_no)
        if book.provider_txn_id and book.provider_txn_id != line.provider_txn_id:
            found.append(
                Mismatch(
                    MismatchKind.MISSING_LOCALLY,
                    line.out_trade_no,
                    line.provider_txn_id,
                    local_fen=book.amount_fen,
                    bill_fen=line.amount_fen,
                    detail=f"账单交易号与本地记录的 {book.provider_txn_id} 不一致",
                )
            )
        elif book.amount_fen != line.amount_fen:
            found.append(
                Mismatch(
                    MismatchKind.AMOUNT,
                    line.out_trade_no,
                    line.provider_txn_id,
                    local_fen=book.amount_fen,
                    bill_fen=line.amount_fen,
                    detail="收款金额不一致",
                )
            )
    for payment in payments:
        if payment.out_trade_no not in matched:
            found.append(
                Mismatch(
                    MismatchKind.MISSING_AT_PROVIDER,
                    payment.out_trade_no,
                    payment.provider_txn_id,
                    local_fen=payment.amount_fen,
                    detail="本地已支付，账单无此笔收款",
                )
            )
    return found


def _refund_mismatches(lines: list[BillLine], refunds: list[BookRefund]) -> list[Mismatch]:
    books = {refund.out_refund_no: refund for refund in refunds}
    matched: set[str] = set()
    found: list[Mismatch] = []
    for line in _ordered(lines):
        book = books.get(line.out_refund_no) if line.out_refund_no else None
        if book is None or line.out_refund_no in matched:
            detail = "账单中重复的退款" if book is not None else "账单有此笔退款，本地当日无成功退款"
            found.append(_refund(line, None, detail))
            continue
        matched.add(line.out_refund_no)
        if book.amount_fen != line.amount_fen:
            found.append(_refund(line, book, "退款金额不一致"))
        elif book.out_trade_no != line.out_trade_no:
            found.append(_refund(line, book, f"退款对应的订单不一致（本地为 {book.out_trade_no}）"))
    for refund in refunds:
        if refund.out_refund_no not in matched:
            found.append(
                Mismatch(
                    MismatchKind.REFUND,
                    refund.out_trade_no,
                    refund.provider_txn_id,
                    local_fen=refund.amount_fen,
                    detail=f"退款单 {refund.out_refund_no} 本地已成功，账单无此笔退款",
                    out_refund_no=refund.out_refund_no,
                )
            )
    return found


def _refund(line: BillLine, book: BookRefund | None, detail: str) -> Mismatch:
    number = f"退款单 {line.out_refund_no}：" if line.out_refund_no else "退款（无商户退款单号）："
    return Mismatch(
        MismatchKind.REFUND,
        line.out_trade_no,
        line.provider_txn_id,
        local_fen=book.amount_fen if book is not None else None,
        bill_fen=line.amount_fen,
        detail=number + detail,
        out_refund_no=line.out_refund_no,
    )
