"""The late fee (加处罚款) of a fine, 《行政处罚法》(2021) art. 72 and 66, in integer fen.

- The decision is payable through ``due_on`` (served_on + 15 days unless the decision says otherwise).
  Every day after ``due_on`` up to and including ``as_of`` is an overdue day.
- An approved deferral (暂缓或分期缴纳) stops the accrual: overdue days inside the deferral window
  ``[deferral_from or the first overdue day, deferral_until]`` do not count.
- Each counted day adds 3 % of the fine. **Rounding**: computed on the total, not per day —
  ``floor(amount_fen * 3 * days / 100)`` — so fractions of a fen are never charged, and are not lost
  day by day either (333 fen for 3 days: 29 fen, where flooring each day's 9.99 fen would give 27).
- The late fee never exceeds the fine itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

DAILY_RATE_PERCENT = 3


@dataclass(frozen=True)
class Deferral:
    """The days an approved deferral covers (inclusive); ``start`` None: from the first overdue day."""

    until: date
    start: date | None = None


@dataclass(frozen=True)
class Charge:
    amount_fen: int
    late_days: int
    late_fee_fen: int

    @property
    def total_fen(self) -> int:
        return self.amount_fen + self.late_fee_fen

    @property
    def capped(self) -> bool:
        return self.late_fee_fen == self.amount_fen


def late_days(*, due_on: date, as_of: date, deferral: Deferral | None = None) -> int:
    """Overdue days from the day after ``due_on`` through ``as_of`` that no deferral covers."""
    first = due_on + timedelta(days=1)
    if as_of < first:
        return 0
    days = (as_of - first).days + 1
    if deferral is not None:
        start = max(deferral.start or first, first)
        end = min(deferral.until, as_of)
        if end >= start:
            days -= (end - start).days + 1
    return days


def late_fee_fen(amount_fen: int, days: int) -> int:
    """3 % of the fine per day, floored on the total to whole fen, at most the fine itself."""
    if amount_fen <= 0:
        raise ValueError("a fine is a positive number of fen")
    if days < 0:
        raise ValueError("days cannot be negative")
    return min(amount_fen, amount_fen * DAILY_RATE_PERCENT * days // 100)


def charge(*, amount_fen: int, due_on: date, as_of: date, deferral: Deferral | None = None) -> Charge:
    days = late_days(due_on=due_on, as_of=as_of, deferral=deferral)
    return Charge(amount_fen=amount_fen, late_days=days, late_fee_fen=late_fee_fen(amount_fen, days))


def yuan(fen: int) -> str:
    """``12345`` → ``"123.45"``: amounts leave the system as exact strings, never floats."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"
