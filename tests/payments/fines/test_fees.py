"""The late fee: 3 % per overdue day from served_on + 16, floored on the total, capped at the fine,
paused by an approved deferral."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from payments.fines.fees import Deferral, charge, late_days, late_fee_fen, yuan

SERVED = date(2026, 3, 2)
DUE = SERVED + timedelta(days=15)  # the last free day


def test_day_15_after_service_is_free_and_day_16_is_the_first_late_day() -> None:
    assert late_days(due_on=DUE, as_of=SERVED + timedelta(days=15)) == 0
    assert late_days(due_on=DUE, as_of=SERVED + timedelta(days=16)) == 1
    assert late_days(due_on=DUE, as_of=SERVED) == 0
    assert charge(amount_fen=20000, due_on=DUE, as_of=SERVED + timedelta(days=16)).late_fee_fen == 600


def test_the_fee_is_capped_at_the_fine_itself() -> None:
    assert late_fee_fen(20000, 33) == 19800
    assert late_fee_fen(20000, 34) == 20000  # 102 % capped
    result = charge(amount_fen=20000, due_on=DUE, as_of=DUE + timedelta(days=400))
    assert (result.late_fee_fen, result.total_fen, result.capped) == (20000, 40000, True)


def test_rounding_is_a_floor_on_the_total_not_per_day() -> None:
    # 3 % of 333 fen is 9.99 fen a day: 29.97 → 29 after 3 days (per-day flooring would give 27).
    assert late_fee_fen(333, 1) == 9
    assert late_fee_fen(333, 3) == 29
    assert late_fee_fen(1, 33) == 0  # 0.99 fen
    assert late_fee_fen(1, 34) == 1  # 1.02 fen, capped at the fine


def test_leap_day_counts() -> None:
    served = date(2024, 2, 14)
    due = served + timedelta(days=15)
    assert due == date(2024, 2, 29)
    assert late_days(due_on=due, as_of=date(2024, 2, 29)) == 0
    assert late_days(due_on=due, as_of=date(2024, 3, 1)) == 1
    assert late_days(due_on=date(2023, 2, 13) + timedelta(days=15), as_of=date(2023, 3, 1)) == 1


def test_a_deferral_pauses_the_accrual_for_the_days_it_covers() -> None:
    as_of = DUE + timedelta(days=20)
    # Approved from the first overdue day through the 10th: 10 of 20 days do not count.
    assert late_days(due_on=DUE, as_of=as_of, deferral=Deferral(until=DUE + timedelta(days=10))) == 10
    # Approved later (days 6–10): the first 5 days already accrued and stay.
    window = Deferral(start=DUE + timedelta(days=6), until=DUE + timedelta(days=10))
    assert late_days(due_on=DUE, as_of=as_of, deferral=window) == 15
    # Still inside the deferral: nothing accrues.
    assert late_days(due_on=DUE, as_of=DUE + timedelta(days=8), deferral=window) == 5
    # A deferral before the due date changes nothing, one starting before it is clipped.
    assert late_days(due_on=DUE, as_of=as_of, deferral=Deferral(until=DUE)) == 20
    early = Deferral(start=SERVED, until=DUE + timedelta(days=2))
    assert late_days(due_on=DUE, as_of=as_of, deferral=early) == 18


def test_bad_inputs_are_refused_and_yuan_strings_are_exact() -> None:
    with pytest.raises(ValueError, match="positive"):
        late_fee_fen(0, 1)
    with pytest.raises(ValueError, match="negative"):
        late_fee_fen(100, -1)
    assert [yuan(0), yuan(5), yuan(12345), yuan(-150)] == ["0.00", "0.05", "123.45", "-1.50"]
