"""Every query on the outbox."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.models import OutboxMessage


def already_told(session: Session, *, case_id: int | None, event: str, citizen_ids: list[int]) -> set[int]:
    stmt = select(OutboxMessage.citizen_id).where(
        col(OutboxMessage.case_id) == case_id,
        col(OutboxMessage.event) == event,
        col(OutboxMessage.citizen_id).in_(citizen_ids),
    )
    return set(session.exec(stmt).all())


def for_update(session: Session, message_id: int) -> OutboxMessage | None:
    return session.get(OutboxMessage, message_id, with_for_update=True, populate_existing=True)
