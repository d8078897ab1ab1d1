"""Every query on the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.models import AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    staff_id: int | None = None
    username: str = ""
    action: str = ""
    target_kind: str = ""
    target_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _filtered(where: AuditFilter) -> SelectOfScalar[AuditEntry]:
    stmt = select(AuditEntry)
    if where.staff_id is not None:
        stmt = stmt.where(col(AuditEntry.staff_id) == where.staff_id)
    if where.username:
        stmt = stmt.where(col(AuditEntry.username) == where.username)
    if where.action:
        stmt = stmt.where(col(AuditEntry.action) == where.action)
    if where.target_kind:
        stmt = stmt.where(col(AuditEntry.target_kind) == where.target_kind)
    if where.target_id:
        stmt = stmt.where(col(AuditEntry.target_id) == where.target_id)
    if where.since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= where.since)
    if where.until is not None:
        stmt = stmt.where(col(AuditEntry.at) < where.until)
    return stmt


def search(
    session: Session,
    where: AuditFilter,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Newest first; keyset pagination on the id.

    ``before_id``: the last id of the previous page (going to older entries); ``after_id``: the first id
    of the next page (going back to newer entries). Either way the page is returned newest first.
    """
    stmt = _filtered(where)
    if after_id is not None:
        rows = session.exec(
            stmt.where(col(AuditEntry.id) > after_id).order_by(col(AuditEntry.id).asc()).limit(limit)
        ).all()
        return list(reversed(rows))
    if before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < before_id)
    return list(session.exec(stmt.order_by(col(AuditEntry.id).desc()).limit(limit)).all())


def exists_where(
    session: Session, where: AuditFilter, *, before_id: int | None = None, after_id: int | None = None
) -> bool:
    """Whether any entry matches beyond a page boundary (to show or hide the pager's links)."""
    stmt = _filtered(where)
    if before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < before_id)
    if after_id is not None:
        stmt = stmt.where(col(AuditEntry.id) > after_id)
    return session.exec(stmt.limit(1)).first() is not None


def count(session: Session, where: AuditFilter) -> int:
    subquery = _filtered(where).subquery()
    return int(session.execute(sa.select(sa.func.count()).select_from(subquery)).scalar_one())


def iterate(session: Session, where: AuditFilter, *, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every matching entry, newest first, read in keyset batches (for exports)."""
    before_id: int | None = None
    while True:
        rows = search(session, where, before_id=before_id, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        before_id = rows[-1].id


def actions(session: Session) -> list[str]:
    return sorted(a for a in session.exec(select(AuditEntry.action).distinct()).all())


def target_kinds(session: Session) -> list[str]:
    rows = session.exec(select(AuditEntry.target_kind).distinct()).all()
    return sorted(kind for kind in rows if kind)
