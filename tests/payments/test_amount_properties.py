"""Properties (hypothesis) of the money arithmetic: the late fee and the fen ↔ yuan conversions."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.fines.fees import Deferral, charge, late_days, late_fee_fen, yuan
from payments.providers import fen_to_yuan, yuan_to_fen

FEN = st.integers(min_value=1, max_value=10**12)  # up to 10 billion yuan
DAYS = st.integers(min_value=0, max_value=2000)
DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@given(FEN)
def test_fen_survive_a_trip_through_yuan(fen: int) -> None:
    text = fen_to_yuan(fen)
    assert yuan_to_fen(text) == fen
    assert Decimal(text) * 100 == fen
    assert text == yuan(fen)
    assert len(text.split(".")[1]) == 2


@given(FEN, st.integers(min_value=0, max_value=3))
def test_yuan_with_trailing_zeros_or_fewer_decimals(fen: int, zeros: int) -> None:
    whole, cents = divmod(fen, 100)
    assert yuan_to_fen(f"{whole}.{cents:02d}" + "0" * zeros) == fen
    if cents % 10 == 0:
        assert yuan_to_fen(f"{whole}.{cents // 10}") == fen


@given(FEN, st.integers(min_value=1, max_value=9))
def test_fractions_of_a_fen_are_refused(fen: int, mill: int) -> None:
    with pytest.raises(ValueError, match="fractions of a fen"):
        yuan_to_fen(f"{fen_to_yuan(fen)}{mill}")


@given(st.integers(max_value=0))
def test_only_positive_fen_become_yuan(fen: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        fen_to_yuan(fen)


@given(FEN, DAYS)
def test_late_fee_is_three_percent_a_day_floored_and_capped(amount: int, days: int) -> None:
    fee = late_fee_fen(amount, days)
    assert 0 <= fee <= amount
    assert fee == min(amount, (Decimal(amount) * 3 * days / 100).to_integral_value(rounding="ROUND_FLOOR"))
    assert fee <= late_fee_fen(amount, days + 1)  # never decreases
    # computed on the total: never less than flooring each day's 3 %
    assert fee >= min(amount, days * (amount * 3 // 100))
    if days >= 34:  # 34 × 3 % > 100 %
        assert fee == amount
    elif days > 0:
        assert fee < amount


@given(FEN, DATES, DATES)
def test_nothing_is_late_on_or_before_the_due_date(amount: int, due_on: date, as_of: date) -> None:
    result = charge(amount_fen=amount, due_on=due_on, as_of=as_of)
    assert result.total_fen == amount + result.late_fee_fen
    if as_of <= due_on:
        assert (result.late_days, result.late_fee_fen) == (0, 0)
    else:
        assert result.late_days == (as_of - due_on).days


@given(DATES, DATES, DATES, st.none() | DATES)
def test_a_deferral_only_ever_removes_days(
    due_on: date, as_of: date, until: date, start: date | None
) -> None:
    plain = late_days(due_on=due_on, as_of=as_of)
    deferred = late_days(due_on=due_on, as_of=as_of, deferral=Deferral(until=until, start=start))
    assert 0 <= deferred <= plain
    next_day = late_days(due_on=due_on, as_of=as_of + timedelta(days=1), deferral=Deferral(until, start))
    assert next_day - deferred in (0, 1)  # one calendar day adds at most one late day


@given(FEN, DATES, st.integers(min_value=1, max_value=400))
def test_a_deferral_covering_every_overdue_day_means_no_late_fee(
    amount: int, due_on: date, late: int
) -> None:
    as_of = due_on + timedelta(days=late)
    result = charge(amount_fen=amount, due_on=due_on, as_of=as_of, deferral=Deferral(until=as_of))
    assert (result.late_days, result.late_fee_fen, result.total_fen) == (0, 0, amount)
