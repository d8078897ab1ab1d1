"""Every query of the 12345 exchange."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models import (
    Case,
    CaseEvent,
    Category,
    CategoryLevel,
    ExchangeCursor,
    ExchangeOrder,
    ExchangePush,
    ExchangePushStatus,
)


def order_by_no(session: Session, order_no: str) -> ExchangeOrder | None:
    return session.exec(select(ExchangeOrder).where(col(ExchangeOrder.order_no) == order_no)).first()


def order_of_case(session: Session, case_id: int) -> ExchangeOrder | None:
    return session.exec(select(ExchangeOrder).where(col(ExchangeOrder.case_id) == case_id)).first()


def case_no(session: Session, case_id: int) -> str:
    return session.exec(select(Case.case_no).where(col(Case.id) == case_id)).one()


def active_minor_category(
    session: Session, *, code: str | None = None, name: str | None = None
) -> Category | None:
    stmt = select(Category).where(col(Category.level) == CategoryLevel.MINOR, col(Category.active).is_(True))
    if code is not None:
        stmt = stmt.where(col(Category.code) == code)
    if name is not None:
        stmt = stmt.where(col(Category.name) == name)
    return session.exec(stmt.order_by(col(Category.code))).first()


def cursor(session: Session, name: str) -> ExchangeCursor:
    found = session.get(ExchangeCursor, name, with_for_update=True)
    if found is None:
        found = ExchangeCursor(name=name, last_event_id=0)
        session.add(found)
        session.flush()
    return found


def events_of_orders_after(
    session: Session, after_id: int, *, limit: int
) -> list[tuple[CaseEvent, ExchangeOrder]]:
    """History rows of 12345 cases after ``after_id``, oldest first."""
    stmt = (
        select(CaseEvent, ExchangeOrder)
        .join(ExchangeOrder, col(ExchangeOrder.case_id) == col(CaseEvent.case_id))
        .where(col(CaseEvent.id) > after_id)
        .order_by(col(CaseEvent.id))
        .limit(limit)
    )
    return [(event, order) for event, order in session.exec(stmt).all()]


def last_event_before(session: Session, after_id: int, *, created_before: datetime) -> int | None:
    """The last history row (any case) after ``after_id`` written before ``created_before``."""
    stmt = select(sa.func.max(CaseEvent.id)).where(
        col(CaseEvent.id) > after_id, col(CaseEvent.created_at) < created_before
    )
    value = session.exec(stmt).one()
    return int(value) if value is not None else None


def derived_pushes(session: Session, order_ids: list[int], min_seq: int) -> set[tuple[int, int, str]]:
    stmt = select(ExchangePush.order_id, ExchangePush.seq, ExchangePush.event).where(
        col(ExchangePush.order_id).in_(order_ids), col(ExchangePush.seq) >= min_seq
    )
    return {(order_id, seq, event) for order_id, seq, event in session.exec(stmt).all()}


def has_event(session: Session, order_id: int, event: str) -> bool:
    stmt = select(ExchangePush.id).where(
        col(ExchangePush.order_id) == order_id, col(ExchangePush.event) == event
    )
    return session.exec(stmt.limit(1)).first() is not None


def order_for_update(session: Session, order_id: int) -> ExchangeOrder | None:
    return session.get(ExchangeOrder, order_id, with_for_update=True, populate_existing=True)


def head_push(session: Session, order_id: int) -> ExchangePush | None:
    """The first push of the order not yet acknowledged (pending or failed): the only one sendable."""
    stmt = (
        select(ExchangePush)
        .where(col(ExchangePush.order_id) == order_id, col(ExchangePush.status) != ExchangePushStatus.SENT)
        .order_by(col(ExchangePush.seq), col(ExchangePush.id))
        .limit(1)
    )
    return session.exec(stmt).first()


def push_for_update(session: Session, push_id: int) -> ExchangePush | None:
    return session.get(ExchangePush, push_id, with_for_update=True, populate_existing=True)


def orders_with_due_pushes(session: Session, *, due_before: datetime, limit: int = 500) -> list[int]:
    stmt = (
        select(ExchangePush.order_id)
        .where(
            col(ExchangePush.status) == ExchangePushStatus.PENDING,
            sa.or_(
                col(ExchangePush.next_attempt_at).is_(None), col(ExchangePush.next_attempt_at) <= due_before
            ),
        )
        .group_by(col(ExchangePush.order_id))
        .order_by(col(ExchangePush.order_id))
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def pushes_of_order(session: Session, order_id: int) -> list[ExchangePush]:
    stmt = select(ExchangePush).where(col(ExchangePush.order_id) == order_id).order_by(col(ExchangePush.seq))
    return list(session.exec(stmt).all())
