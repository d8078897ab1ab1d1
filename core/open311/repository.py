"""Every query of the Open311 interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.kit.clock import ensure_aware
from core.models import Case, CasePhoto, CaseStatus, Category, CategoryLevel, RegisterStandard
from core.models.open311 import Open311Client, Open311Token


def add(session: Session, row: Open311Client | Open311Token | CasePhoto) -> None:
    session.add(row)
    session.flush()


# --- clients ---------------------------------------------------------------------------------------


def client(session: Session, client_id: int) -> Open311Client | None:
    return session.get(Open311Client, client_id)


def client_by_key_hash(session: Session, key_hash: str) -> Open311Client | None:
    return session.exec(select(Open311Client).where(col(Open311Client.api_key_hash) == key_hash)).first()


def client_by_name(session: Session, name: str) -> Open311Client | None:
    return session.exec(select(Open311Client).where(col(Open311Client.name) == name)).first()


def clients_with_counts(session: Session) -> list[tuple[Open311Client, int]]:
    """Every client with the number of requests it has filed, oldest client first."""
    stmt = (
        sa.select(Open311Client, sa.func.count(col(Open311Token.id)))
        .outerjoin(Open311Token, col(Open311Token.client_id) == col(Open311Client.id))
        .group_by(col(Open311Client.id))
        .order_by(col(Open311Client.id))
    )
    return [(row[0], int(row[1])) for row in session.execute(stmt).all()]


def requests_since(session: Session, client_id: int, since: datetime) -> tuple[int, datetime | None]:
    """How many requests the client filed since ``since``, and the oldest of them."""
    stmt = sa.select(sa.func.count(), sa.func.min(col(Open311Token.created_at))).where(
        col(Open311Token.client_id) == client_id, col(Open311Token.created_at) >= since
    )
    count, oldest = session.execute(stmt).one()
    return int(count), oldest


# --- services ---------------------------------------------------------------------------------------


def definitions_changed_at(session: Session) -> datetime | None:
    """The last change of any category or register condition (what services and definitions show)."""
    stmt = sa.select(
        sa.select(sa.func.max(col(Category.updated_at))).scalar_subquery(),
        sa.select(sa.func.max(col(RegisterStandard.updated_at))).scalar_subquery(),
    )
    moments = [moment for moment in session.execute(stmt).one() if moment is not None]
    return max((ensure_aware(moment) for moment in moments), default=None)


def active_minor_categories(session: Session) -> list[Category]:
    stmt = (
        select(Category)
        .where(col(Category.active), col(Category.level) == CategoryLevel.MINOR)
        .order_by(col(Category.code))
    )
    return list(session.exec(stmt).all())


def active_minor_by_code(session: Session, code: str) -> Category | None:
    stmt = select(Category).where(
        col(Category.code) == code, col(Category.active), col(Category.level) == CategoryLevel.MINOR
    )
    return session.exec(stmt).first()


def minor_ids_by_codes(session: Session, codes: Sequence[str]) -> list[int]:
    stmt = select(Category.id).where(
        col(Category.code).in_(list(codes)), col(Category.level) == CategoryLevel.MINOR
    )
    return [category_id for category_id in session.exec(stmt).all() if category_id is not None]


# --- requests ---------------------------------------------------------------------------------------


def token(session: Session, value: str) -> tuple[Open311Token, str] | None:
    """A token and the number of its case."""
    stmt = (
        select(Open311Token, Case.case_no)
        .join(Case, col(Case.id) == col(Open311Token.case_id))
        .where(col(Open311Token.token) == value)
    )
    row = session.exec(stmt).first()
    return (row[0], row[1]) if row is not None else None


def media_urls(session: Session, case_ids: set[int]) -> dict[int, str]:
    """The media URL a client sent with each of these cases (cases without one are left out)."""
    if not case_ids:
        return {}
    stmt = select(Open311Token.case_id, Open311Token.media_url).where(
        col(Open311Token.case_id).in_(case_ids), col(Open311Token.media_url) != ""
    )
    return {case_id: url for case_id, url in session.exec(stmt).all()}


@dataclass(frozen=True)
class RequestFilter:
    case_nos: Sequence[str] | None = None
    category_ids: Sequence[int] | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: Sequence[CaseStatus] | None = None


def public_cases(session: Session, where: RequestFilter, *, limit: int, offset: int) -> list[Case]:
    """Public cases matching the filter, newest first (ties by id)."""
    conditions: list[sa.ColumnElement[bool]] = [col(Case.is_public).is_(True)]
    if where.case_nos is not None:
        conditions.append(col(Case.case_no).in_(list(where.case_nos)))
    if where.category_ids is not None:
        conditions.append(col(Case.category_id).in_(list(where.category_ids)))
    if where.start is not None:
        conditions.append(col(Case.created_at) >= where.start)
    if where.end is not None:
        conditions.append(col(Case.created_at) <= where.end)
    if where.statuses is not None:
        conditions.append(col(Case.status).in_(list(where.statuses)))
    stmt = (
        select(Case)
        .where(*conditions)
        .order_by(col(Case.created_at).desc(), col(Case.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.exec(stmt).all())
