"""Every query on the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from core.models import DeliveryChannel, OutboxDelivery, OutboxMessage, OutboxStatus


def already_told(session: Session, *, case_id: int | None, event: str, citizen_ids: list[int]) -> set[int]:
    stmt = select(OutboxMessage.citizen_id).where(
        col(OutboxMessage.case_id) == case_id,
        col(OutboxMessage.event) == event,
        col(OutboxMessage.citizen_id).in_(citizen_ids),
    )
    return set(session.exec(stmt).all())


def for_update(session: Session, message_id: int) -> OutboxMessage | None:
    return session.get(OutboxMessage, message_id, with_for_update=True, populate_existing=True)


def stale_pending_ids(session: Session, *, older_than: datetime, limit: int = 500) -> list[int]:
    stmt = (
        select(OutboxMessage.id)
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING, col(OutboxMessage.updated_at) < older_than)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return [message_id for message_id in session.exec(stmt).all() if message_id is not None]


def delivery(session: Session, message_id: int, channel: DeliveryChannel) -> OutboxDelivery | None:
    stmt = select(OutboxDelivery).where(
        col(OutboxDelivery.message_id) == message_id, col(OutboxDelivery.channel) == channel
    )
    return session.exec(stmt).first()


def deliveries(session: Session, message_ids: list[int]) -> list[OutboxDelivery]:
    stmt = (
        select(OutboxDelivery)
        .where(col(OutboxDelivery.message_id).in_(message_ids))
        .order_by(col(OutboxDelivery.message_id), col(OutboxDelivery.id))
    )
    return list(session.exec(stmt).all())
