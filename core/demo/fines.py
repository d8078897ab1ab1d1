"""Demo penalty decisions (罚款决定书) for the payment walkthrough (docs/demo-payments.md).

Four decisions with known numbers and party names, one per state a payer meets: payable within the
deadline, overdue with a late fee, deferred (no late fee while the deferral lasts) and already paid.
Dates are relative to the day the demo is first loaded; re-loading never changes an existing decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from core.models import FineStatus, PenaltyDecision
from core.models.fines import PAYMENT_DAYS


@dataclass(frozen=True)
class DemoFine:
    decision_no: str
    party_name: str
    party_id_masked: str
    amount_fen: int
    served_days_ago: int
    status: FineStatus = FineStatus.UNPAID
    deferral_days: int = 0  # > 0: deferred from the first overdue day for this many days past today
    note: str = ""


DEMO_FINES: tuple[DemoFine, ...] = (
    # Served 3 days ago: payable without a late fee for 12 more days.
    DemoFine("DEMO-2026-001", "张三", "3605**********0011", 20_000, served_days_ago=3),
    # Served 25 days ago: 10 overdue days on the day of loading, 3 % a day (15 000 fen), capped at the fine.
    DemoFine("DEMO-2026-002", "李四", "3605**********0022", 50_000, served_days_ago=25),
    # Overdue, but an approved deferral covers every overdue day until 30 days from now.
    DemoFine(
        "DEMO-2026-003",
        "王五",
        "3605**********0033",
        10_000,
        served_days_ago=30,
        status=FineStatus.DEFERRED,
        deferral_days=30,
        note="经批准暂缓缴纳（演示数据）",
    ),
    # Paid at a bank counter: the lookup shows it as paid and it cannot be paid online again.
    DemoFine(
        "DEMO-2026-004",
        "新余市渝水区示例餐饮店",
        "",
        100_000,
        served_days_ago=40,
        status=FineStatus.PAID,
    ),
)


def _decision(fine: DemoFine, today: date) -> PenaltyDecision:
    served = today - timedelta(days=fine.served_days_ago)
    due = served + timedelta(days=PAYMENT_DAYS)
    deferred = fine.deferral_days > 0
    return PenaltyDecision(
        decision_no=fine.decision_no,
        party_name=fine.party_name,
        party_id_masked=fine.party_id_masked,
        amount_fen=fine.amount_fen,
        decided_on=served,
        served_on=served,
        due_on=due,
        status=fine.status,
        deferral_from=due + timedelta(days=1) if deferred else None,
        deferral_until=today + timedelta(days=fine.deferral_days) if deferred else None,
        instalment_note=fine.note,
    )


def ensure_demo_fines(session: Session, *, today: date) -> list[str]:
    """Add the demo decisions that do not exist yet; returns the numbers added."""
    numbers = [fine.decision_no for fine in DEMO_FINES]
    existing = set(
        session.exec(select(PenaltyDecision.decision_no).where(col(PenaltyDecision.decision_no).in_(numbers)))
    )
    created = [fine for fine in DEMO_FINES if fine.decision_no not in existing]
    session.add_all([_decision(fine, today) for fine in created])
    session.flush()
    return [fine.decision_no for fine in created]
