"""Paid orders for receipt tests, made the way production makes them: a pending order settled by
``payments.orders.settle.settle_paid`` (the only place an order becomes paid)."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from core.models import (
    Citizen,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PenaltyDecision,
)
from payments.orders.settle import settle_paid

_numbers = itertools.count(1)
PAID_AT = datetime(2026, 3, 5, 6, 7, 8, tzinfo=UTC)  # 2026-03-05 14:07:08 in Beijing


def decision(session: Session, *, party_name: str = "张三", amount_fen: int = 20_000) -> PenaltyDecision:
    served = date(2026, 2, 1)
    row = PenaltyDecision(
        decision_no=f"渝城管罚决字〔2026〕第{next(_numbers):04d}号-{secrets.token_hex(2)}",
        party_name=party_name,
        party_id_masked="3601**********1234",
        amount_fen=amount_fen,
        decided_on=served,
        served_on=served,
        due_on=served + timedelta(days=15),
    )
    session.add(row)
    session.flush()
    return row


def citizen(session: Session) -> Citizen:
    row = Citizen(phone=f"139{secrets.randbelow(10**8):08d}")
    session.add(row)
    session.flush()
    return row


def order(
    session: Session,
    fine: PenaltyDecision,
    *,
    citizen_id: int | None = None,
    late_fee_fen: int = 0,
    channel: PaymentChannel = PaymentChannel.ALIPAY,
    created_at: datetime | None = None,
) -> PaymentOrder:
    assert fine.id is not None
    row = PaymentOrder(
        out_trade_no=secrets.token_hex(16),
        decision_id=fine.id,
        channel=channel,
        client=PaymentClient.H5,
        amount_fen=fine.amount_fen + late_fee_fen,
        fine_fen=fine.amount_fen,
        late_fee_fen=late_fee_fen,
        citizen_id=citizen_id,
        expires_at=PAID_AT + timedelta(minutes=30),
    )
    if created_at is not None:
        row.created_at = created_at
    session.add(row)
    session.flush()
    return row


def paid_order(
    session: Session,
    fine: PenaltyDecision,
    *,
    citizen_id: int | None = None,
    late_fee_fen: int = 0,
    channel: PaymentChannel = PaymentChannel.ALIPAY,
    created_at: datetime | None = None,
    paid_at: datetime = PAID_AT,
    txn_id: str | None = None,
) -> PaymentOrder:
    row = order(
        session,
        fine,
        citizen_id=citizen_id,
        late_fee_fen=late_fee_fen,
        channel=channel,
        created_at=created_at,
    )
    settle_paid(
        session,
        row,
        provider_txn_id=txn_id or f"2026030522{secrets.randbelow(10**18):018d}",
        paid_fen=row.amount_fen,
        paid_at=paid_at,
    )
    return row
