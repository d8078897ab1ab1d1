"""Every query of the places service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models.places import ParkingOperator, Place


def signature(session: Session) -> tuple[Any, ...]:
    """Changes whenever a place is added, removed or edited (not on availability pushes)."""
    row = session.execute(
        sa.select(sa.func.count(), sa.func.max(Place.id), sa.func.max(Place.updated_at)).select_from(Place)
    ).one()
    return tuple(row)


def index_rows(session: Session) -> list[tuple[int, str, str, float, float, str, bool]]:
    """(id, code, kind, lng, lat, open_hours, accessible) of every active place."""
    stmt = sa.select(
        col(Place.id),
        col(Place.code),
        col(Place.kind),
        col(Place.lng),
        col(Place.lat),
        col(Place.open_hours),
        col(Place.accessible),
    ).where(col(Place.active))
    return [tuple(row) for row in session.execute(stmt)]


def places_by_id(session: Session, ids: Sequence[int]) -> dict[int, Place]:
    if not ids:
        return {}
    rows = session.exec(select(Place).where(col(Place.id).in_(ids))).all()
    return {row.id: row for row in rows if row.id is not None}


def place_by_code(session: Session, code: str, *, for_update: bool = False) -> Place | None:
    stmt = select(Place).where(col(Place.code) == code, col(Place.active))
    if for_update:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def operator_by_key_hash(session: Session, key_hash: str) -> ParkingOperator | None:
    stmt = select(ParkingOperator).where(
        col(ParkingOperator.api_key_hash) == key_hash, col(ParkingOperator.active)
    )
    return session.exec(stmt).first()


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def operator_by_name(session: Session, name: str) -> ParkingOperator | None:
    return session.exec(select(ParkingOperator).where(col(ParkingOperator.name) == name)).first()


def operator_lot_counts(session: Session) -> list[tuple[int, str, bool, int]]:
    """(id, name, active, number of places pointing at it) of every operator, by id; one query."""
    stmt = (
        sa.select(
            col(ParkingOperator.id),
            col(ParkingOperator.name),
            col(ParkingOperator.active),
            sa.func.count(col(Place.id)),
        )
        .select_from(ParkingOperator)
        .outerjoin(Place, col(Place.operator_id) == col(ParkingOperator.id))
        .group_by(col(ParkingOperator.id), col(ParkingOperator.name), col(ParkingOperator.active))
        .order_by(col(ParkingOperator.id))
    )
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(stmt)]


def places_by_code(session: Session, codes: Sequence[str]) -> dict[str, Place]:
    """Places with these codes, inactive ones included (an assignment survives a place's deactivation)."""
    rows = session.exec(select(Place).where(col(Place.code).in_(codes))).all()
    return {row.code: row for row in rows}
