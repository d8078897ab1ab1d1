"""Every query on uploads."""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, select

from core.models import Upload


def add(session: Session, upload: Upload) -> Upload:
    session.add(upload)
    session.flush()
    return upload


def get(session: Session, upload_id: str) -> Upload | None:
    return session.get(Upload, upload_id)


def get_for_update(session: Session, upload_id: str) -> Upload | None:
    """The upload, row-locked until the end of the transaction (PostgreSQL; SQLite locks on write)."""
    return session.get(Upload, upload_id, with_for_update=True, populate_existing=True)


def by_ids(session: Session, upload_ids: Collection[str]) -> list[Upload]:
    if not upload_ids:
        return []
    return list(session.exec(select(Upload).where(col(Upload.id).in_(list(upload_ids)))).all())
