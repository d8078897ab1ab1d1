"""Every query on points, the catalogue and redemptions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models import Case, CaseStatus, Citizen
from core.models.rewards import Redemption, RewardEntry, RewardItem, RewardReason

AWARDS = (RewardReason.REPORT_REGISTERED, RewardReason.FIRST_REPORT_BONUS)


def balance(session: Session, citizen_id: int) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.sum(RewardEntry.points), 0)).where(
        col(RewardEntry.citizen_id) == citizen_id
    )
    return int(session.execute(stmt).scalar_one())


def awarded_between(session: Session, citizen_id: int, start: datetime, end: datetime) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.sum(RewardEntry.points), 0)).where(
        col(RewardEntry.citizen_id) == citizen_id,
        col(RewardEntry.reason).in_(AWARDS),
        col(RewardEntry.created_at) >= start,
        col(RewardEntry.created_at) < end,
    )
    return int(session.execute(stmt).scalar_one())


def entries_for_case(session: Session, citizen_id: int, case_id: int) -> list[RewardEntry]:
    stmt = select(RewardEntry).where(
        col(RewardEntry.citizen_id) == citizen_id, col(RewardEntry.case_id) == case_id
    )
    return list(session.exec(stmt).all())


def ledger(session: Session, citizen_id: int, *, limit: int, offset: int) -> tuple[list[RewardEntry], int]:
    base = select(RewardEntry).where(col(RewardEntry.citizen_id) == citizen_id)
    total = int(session.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one())
    rows = session.exec(base.order_by(col(RewardEntry.id).desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def other_registered_case_exists(session: Session, case: Case, since: datetime) -> bool:
    """Was the same problem (category and unit grid) already registered from another report?"""
    stmt = select(Case.id).where(
        col(Case.id) != case.id,
        col(Case.category_id) == case.category_id,
        col(Case.unit_grid_code) == case.unit_grid_code,
        col(Case.registered_at).is_not(None),
        col(Case.registered_at) >= since,
        col(Case.status) != CaseStatus.MERGED,
    )
    return session.exec(stmt).first() is not None


def lock_citizen(session: Session, citizen_id: int) -> None:
    """Serialises a citizen's redemptions (a row lock on PostgreSQL; the write lock on SQLite)."""
    session.execute(
        sa.update(Citizen)
        .where(col(Citizen.id) == citizen_id)
        .values(token_version=col(Citizen.token_version))
    )


def items(session: Session) -> list[RewardItem]:
    stmt = select(RewardItem).where(col(RewardItem.active)).order_by(col(RewardItem.points_cost))
    return list(session.exec(stmt).all())


def item_by_code(session: Session, code: str) -> RewardItem | None:
    return session.exec(select(RewardItem).where(col(RewardItem.code) == code)).first()


def take_one_from_stock(session: Session, item_id: int) -> bool:
    """Atomically one item less; False when none is left (never oversells under concurrency)."""
    stmt = (
        sa.update(RewardItem)
        .where(col(RewardItem.id) == item_id, col(RewardItem.stock) > 0)
        .values(stock=col(RewardItem.stock) - 1)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def put_back_in_stock(session: Session, item_id: int) -> None:
    session.execute(
        sa.update(RewardItem).where(col(RewardItem.id) == item_id).values(stock=col(RewardItem.stock) + 1)
    )


def redemption_by_key(session: Session, citizen_id: int, key: str) -> Redemption | None:
    stmt = select(Redemption).where(
        col(Redemption.citizen_id) == citizen_id, col(Redemption.idempotency_key) == key
    )
    return session.exec(stmt).first()


def redemption_for_update(session: Session, redemption_id: int) -> Redemption | None:
    return session.get(Redemption, redemption_id, with_for_update=True, populate_existing=True)


def redemptions_of(session: Session, citizen_id: int) -> list[Redemption]:
    stmt = (
        select(Redemption).where(col(Redemption.citizen_id) == citizen_id).order_by(col(Redemption.id).desc())
    )
    return list(session.exec(stmt.limit(100)).all())


def item(session: Session, item_id: int) -> RewardItem | None:
    return session.get(RewardItem, item_id)
