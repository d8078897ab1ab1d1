"""Our books for reconciliation tests: decisions with one order each, paid (or not) at a given time;
``Committed`` does the same in committed transactions (for the job and concurrency tests) and cleans up."""

from __future__ import annotations

import itertools
import secrets
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from core.db import session_scope
from core.kit.clock import SHANGHAI
from core.models import (
    FineStatus,
    PaymentChannel,
    PaymentClient,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    PenaltyDecision,
    ReconciliationItem,
    ReconciliationRun,
    RefundStatus,
)

_seq = itertools.count(1)


def local(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """An aware instant at a Beijing wall-clock time."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=SHANGHAI)


class Books:
    def __init__(self, session: Session, *, token: str | None = None) -> None:
        self.session = session
        self.token = token or secrets.token_hex(3).upper()

    def number(self) -> str:
        return f"FP{self.token}{next(_seq):06d}"

    def order(
        self,
        *,
        paid_at: datetime | None,
        amount_fen: int = 20000,
        channel: PaymentChannel = PaymentChannel.WECHAT,
        status: PaymentOrderStatus | None = None,
        out_trade_no: str | None = None,
        provider_txn_id: str | None = None,
    ) -> PaymentOrder:
        """A decision and one order for it; paid at ``paid_at`` unless that is None (pending)."""
        no = out_trade_no or self.number()
        served = (paid_at or local(date(2026, 11, 1))).date() - timedelta(days=3)
        decision = PenaltyDecision(
            decision_no=f"渝城管罚决字〔2026〕第{no}号",
            party_name="张三",
            amount_fen=amount_fen,
            decided_on=served,
            served_on=served,
            due_on=served + timedelta(days=15),
            status=FineStatus.PAID if paid_at is not None else FineStatus.UNPAID,
        )
        self.session.add(decision)
        self.session.flush()
        assert decision.id is not None
        order = PaymentOrder(
            out_trade_no=no,
            decision_id=decision.id,
            channel=channel,
            client=PaymentClient.MINIPROGRAM,
            status=status or (PaymentOrderStatus.PAID if paid_at is not None else PaymentOrderStatus.PENDING),
            amount_fen=amount_fen,
            fine_fen=amount_fen,
            expires_at=(paid_at or local(date(2026, 11, 1))) + timedelta(minutes=30),
            paid_at=paid_at,
            paid_amount_fen=amount_fen if paid_at is not None else None,
            provider_txn_id=(provider_txn_id or f"TX{no}") if paid_at is not None else None,
        )
        self.session.add(order)
        self.session.flush()
        return order

    def refund(
        self,
        order: PaymentOrder,
        *,
        finished_at: datetime | None,
        status: RefundStatus = RefundStatus.SUCCEEDED,
    ) -> PaymentRefund:
        assert order.id is not None
        assert order.paid_amount_fen is not None
        refund = PaymentRefund(
            out_refund_no=f"RF{order.out_trade_no}",
            order_id=order.id,
            amount_fen=order.paid_amount_fen,
            reason="决定撤销",
            status=status,
            finished_at=finished_at,
        )
        if status is RefundStatus.SUCCEEDED:
            order.status = PaymentOrderStatus.REFUNDED
            self.session.add(order)
        self.session.add(refund)
        self.session.flush()
        return refund


class Committed:
    """Orders committed for real under one token, and the runs of the days used; removed afterwards."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.prefix = f"J{secrets.token_hex(3).upper()}"
        self.days: set[tuple[PaymentChannel, date]] = set()
        self.numbers: list[str] = []

    def unused_day(self) -> date:
        """A day long past that no other test reconciles."""
        return date(2001, 1, 1) + timedelta(days=int(self.prefix[1:], 16) % 7000)

    def order(self, *, paid_at: datetime | None, **values: object) -> PaymentOrder:
        with session_scope(self.engine) as session:
            order = Books(session, token=self.prefix).order(paid_at=paid_at, **values)  # type: ignore[arg-type]
        self.numbers.append(order.out_trade_no)
        return order

    def run(self, channel: PaymentChannel, day: date) -> tuple[ReconciliationRun, list[ReconciliationItem]]:
        self.days.add((channel, day))
        with session_scope(self.engine) as session:
            run = session.exec(
                select(ReconciliationRun).where(
                    col(ReconciliationRun.channel) == channel, col(ReconciliationRun.bill_date) == day
                )
            ).one()
            items = session.exec(
                select(ReconciliationItem).where(col(ReconciliationItem.run_id) == run.id)
            ).all()
            return run, list(items)

    def remove(self) -> None:
        with session_scope(self.engine) as session:
            for channel, day in self.days:
                run = session.exec(
                    select(ReconciliationRun).where(
                        col(ReconciliationRun.channel) == channel, col(ReconciliationRun.bill_date) == day
                    )
                ).first()
                if run is not None:
                    session.execute(
                        delete(ReconciliationItem).where(col(ReconciliationItem.run_id) == run.id)
                    )
                    session.execute(delete(ReconciliationRun).where(col(ReconciliationRun.id) == run.id))
            orders = session.exec(
                select(PaymentOrder).where(col(PaymentOrder.out_trade_no).in_(self.numbers))
            ).all()
            order_ids = [order.id for order in orders]
            decision_ids = [order.decision_id for order in orders]
            session.execute(delete(PaymentRefund).where(col(PaymentRefund.order_id).in_(order_ids)))
            session.execute(delete(PaymentOrder).where(col(PaymentOrder.id).in_(order_ids)))
            session.execute(delete(PenaltyDecision).where(col(PenaltyDecision.id).in_(decision_ids)))
