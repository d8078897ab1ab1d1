"""The pure comparison of a bill with the day's books: each mismatch kind, and seeded random days
(property style) where the expected mismatches are known by construction."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from core.models import MismatchKind
from payments.reconcile.compare import BookPayment, BookRefund, Comparison, compare
from payments.reconcile.lines import BillKind, BillLine

KINDS = MismatchKind


def pay(no: str, fen: int = 20000, txn: str | None = None) -> BookPayment:
    return BookPayment(no, txn or f"T{no}", fen)


def paid_line(no: str, fen: int = 20000, txn: str | None = None) -> BillLine:
    return BillLine(BillKind.PAYMENT, no, txn or f"T{no}", fen)


def refund(refund_no: str, no: str, fen: int = 20000) -> BookRefund:
    return BookRefund(refund_no, no, f"T{no}", fen)


def refund_line(refund_no: str, no: str, fen: int = 20000) -> BillLine:
    return BillLine(BillKind.REFUND, no, f"T{no}", fen, refund_no)


def kinds(result: Comparison) -> list[tuple[MismatchKind, str]]:
    return [(m.kind, m.out_trade_no) for m in result.mismatches]


def test_a_clean_day_has_no_mismatches_and_equal_totals() -> None:
    result = compare(
        [paid_line("A"), paid_line("B", 10), refund_line("R1", "Z", 500)],
        [pay("B", 10), pay("A")],
        [refund("R1", "Z", 500)],
    )
    assert result.mismatches == ()
    assert result.bill == result.books
    assert (result.bill.count, result.bill.net_fen) == (3, 20010 - 500)


def test_an_empty_day_is_clean() -> None:
    result = compare([], [], [])
    assert result.mismatches == ()
    assert (result.bill.count, result.bill.net_fen, result.books.count) == (0, 0, 0)


def test_a_payment_only_in_the_bill_is_missing_locally() -> None:
    (mismatch,) = compare([paid_line("A")], [], []).mismatches
    assert (mismatch.kind, mismatch.out_trade_no, mismatch.provider_txn_id) == (
        KINDS.MISSING_LOCALLY,
        "A",
        "TA",
    )
    assert (mismatch.local_fen, mismatch.bill_fen) == (None, 20000)


def test_a_payment_only_in_our_books_is_missing_at_the_provider() -> None:
    (mismatch,) = compare([], [pay("A")], []).mismatches
    assert (mismatch.kind, mismatch.local_fen, mismatch.bill_fen) == (KINDS.MISSING_AT_PROVIDER, 20000, None)


def test_different_amounts_are_an_amount_mismatch() -> None:
    (mismatch,) = compare([paid_line("A", 19999)], [pay("A", 20000)], []).mismatches
    assert (mismatch.kind, mismatch.local_fen, mismatch.bill_fen) == (KINDS.AMOUNT, 20000, 19999)


def test_the_same_order_twice_in_the_bill_is_a_payment_we_do_not_have() -> None:
    result = compare([paid_line("A", txn="T1"), paid_line("A", txn="T2")], [pay("A", txn="T1")], [])
    assert kinds(result) == [(KINDS.MISSING_LOCALLY, "A")]
    assert result.mismatches[0].provider_txn_id == "T2"
    assert result.mismatches[0].detail == "账单中重复的收款"


def test_another_provider_transaction_for_our_order_is_missing_locally() -> None:
    (mismatch,) = compare([paid_line("A", txn="T9")], [pay("A", txn="T1")], []).mismatches
    assert (mismatch.kind, mismatch.provider_txn_id, mismatch.local_fen) == (
        KINDS.MISSING_LOCALLY,
        "T9",
        20000,
    )
    assert "T1" in mismatch.detail


def test_refund_mismatches() -> None:
    result = compare(
        [refund_line("R1", "A"), refund_line("R2", "B", 100), refund_line("R3", "C"), refund_line("", "E")],
        [],
        [refund("R2", "B", 200), refund("R3", "X"), refund("R4", "D")],
    )
    by_order = {m.out_trade_no: m for m in result.mismatches}
    assert set(by_order) == {"A", "B", "C", "D", "E"}
    assert all(m.kind is KINDS.REFUND for m in result.mismatches)
    assert (by_order["A"].bill_fen, by_order["A"].local_fen) == (20000, None)  # only in the bill
    assert (by_order["B"].bill_fen, by_order["B"].local_fen) == (100, 200)  # other amount
    assert "X" in by_order["C"].detail  # refund of another order
    assert (by_order["D"].bill_fen, by_order["D"].local_fen) == (None, 20000)  # only in our books
    assert by_order["E"].detail.startswith("退款（无商户退款单号）")


def test_a_refund_never_matches_a_payment() -> None:
    result = compare([refund_line("R1", "A")], [pay("A")], [])
    assert sorted(kinds(result)) == [(KINDS.MISSING_AT_PROVIDER, "A"), (KINDS.REFUND, "A")]


# -- property style: random days whose expected mismatches are known by construction ---------------


def random_day(
    rng: random.Random,
) -> tuple[list[BillLine], list[BookPayment], list[BookRefund], Counter[tuple[MismatchKind, str]]]:
    payments = [pay(f"P{i:03d}", rng.randint(1, 500_000)) for i in range(rng.randint(0, 30))]
    refunds = [refund(f"R{i:03d}", f"Q{i:03d}", rng.randint(1, 500_000)) for i in range(rng.randint(0, 8))]
    lines = [paid_line(p.out_trade_no, p.amount_fen) for p in payments]
    lines += [refund_line(r.out_refund_no, r.out_trade_no, r.amount_fen) for r in refunds]
    expected: Counter[tuple[MismatchKind, str]] = Counter()
    for payment in payments:
        fate = rng.random()
        if fate < 0.1:  # the bill lacks it
            lines.remove(paid_line(payment.out_trade_no, payment.amount_fen))
            expected[(KINDS.MISSING_AT_PROVIDER, payment.out_trade_no)] += 1
        elif fate < 0.2:  # the bill has another amount
            index = lines.index(paid_line(payment.out_trade_no, payment.amount_fen))
            lines[index] = paid_line(payment.out_trade_no, payment.amount_fen + rng.choice([-1, 1, 100]))
            expected[(KINDS.AMOUNT, payment.out_trade_no)] += 1
    for refunded in refunds:
        fate = rng.random()
        if fate < 0.15:
            lines.remove(refund_line(refunded.out_refund_no, refunded.out_trade_no, refunded.amount_fen))
            expected[(KINDS.REFUND, refunded.out_trade_no)] += 1
        elif fate < 0.3:
            index = lines.index(
                refund_line(refunded.out_refund_no, refunded.out_trade_no, refunded.amount_fen)
            )
            lines[index] = refund_line(refunded.out_refund_no, refunded.out_trade_no, refunded.amount_fen + 1)
            expected[(KINDS.REFUND, refunded.out_trade_no)] += 1
    for i in range(rng.randint(0, 4)):  # strays: paid at the provider, not in our books
        lines.append(paid_line(f"S{i:03d}", rng.randint(1, 500_000)))
        expected[(KINDS.MISSING_LOCALLY, f"S{i:03d}")] += 1
    for i in range(rng.randint(0, 2)):  # refunds at the provider we never made
        lines.append(refund_line(f"RX{i}", f"QX{i}", rng.randint(1, 500_000)))
        expected[(KINDS.REFUND, f"QX{i}")] += 1
    rng.shuffle(lines)
    return lines, payments, refunds, expected


@pytest.mark.parametrize("seed", range(200))
def test_random_days_list_exactly_the_mismatches_made(seed: int) -> None:
    rng = random.Random(seed)
    lines, payments, refunds, expected = random_day(rng)
    result = compare(lines, payments, refunds)
    assert Counter(kinds(result)) == expected
    # Totals are the plain sums of each side, whatever the mismatches.
    assert result.bill.count == len(lines)
    assert result.bill.net_fen == sum(
        line.amount_fen if line.kind is BillKind.PAYMENT else -line.amount_fen for line in lines
    )
    assert result.books.count == len(payments) + len(refunds)
    assert result.books.net_fen == sum(p.amount_fen for p in payments) - sum(r.amount_fen for r in refunds)
    # The order of the bill's lines or of our books changes nothing.
    rng.shuffle(lines)
    rng.shuffle(payments)
    assert compare(lines, payments, refunds).mismatches == result.mismatches
    # A bill that is exactly our books is clean.
    exact = [paid_line(p.out_trade_no, p.amount_fen) for p in payments]
    exact += [refund_line(r.out_refund_no, r.out_trade_no, r.amount_fen) for r in refunds]
    assert compare(exact, payments, refunds).mismatches == ()
