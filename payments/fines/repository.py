"""Every query of the fine lookup."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from core.models import FineLookup, PenaltyDecision


def by_decision_no(session: Session, decision_no: str) -> PenaltyDecision | None:
    return session.exec(
        select(PenaltyDecision).where(col(PenaltyDecision.decision_no) == decision_no)
    ).first()


def lock_client(session: Session, client_ip: str) -> None:
    """Serialise one address's lookups until the transaction ends, so concurrent requests cannot all
    pass the limit (PostgreSQL advisory lock; SQLite serialises writers anyway)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"zhcg:fine-lookup:{client_ip}".encode()).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)}
    )


def count_lookups_since(session: Session, *, client_ip: str, since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(FineLookup)
        .where(col(FineLookup.client_ip) == client_ip, col(FineLookup.created_at) >= since)
    )
    return int(session.exec(query).one())


def nth_lookup_time_since(
    session: Session, *, client_ip: str, since: datetime, offset: int
) -> datetime | None:
    """When the ``offset``-th oldest lookup (0 = oldest) of the window was made."""
    query = (
        select(FineLookup.created_at)
        .where(col(FineLookup.client_ip) == client_ip, col(FineLookup.created_at) >= since)
        .order_by(col(FineLookup.created_at))
        .offset(offset)
        .limit(1)
    )
    return session.exec(query).first()


def add_lookup(session: Session, *, client_ip: str, at: datetime) -> None:
    session.add(FineLookup(client_ip=client_ip, created_at=at))
    session.flush()
