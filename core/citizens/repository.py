"""Every query on citizens and their SMS login codes."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, or_, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.models import Case, Citizen, Redemption, RewardEntry, SmsCode, SubscribeConsent
from core.models.cases import CaseFollower


def lock_phone(session: Session, phone: str) -> None:
    """Serialise code requests for one phone until the transaction ends, so two concurrent requests
    cannot both pass the rate limits (PostgreSQL advisory lock; SQLite serialises writers anyway)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"zhcg:sms:{phone}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def latest_code(
    session: Session, *, phone: str, purpose: str | None = None, for_update: bool = False
) -> SmsCode | None:
    """The most recent code sent to ``phone`` (of ``purpose`` when given), locked when asked."""
    query = select(SmsCode).where(col(SmsCode.phone) == phone)
    if purpose is not None:
        query = query.where(col(SmsCode.purpose) == purpose)
    query = query.order_by(col(SmsCode.created_at).desc(), col(SmsCode.id).desc()).limit(1)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def _window(since: datetime, phone: str | None, client_ip: str | None) -> list[object]:
    conditions: list[object] = [col(SmsCode.created_at) >= since]
    if phone is not None:
        conditions.append(col(SmsCode.phone) == phone)
    if client_ip is not None:
        conditions.append(col(SmsCode.client_ip) == client_ip)
    return conditions


def count_codes_since(
    session: Session, *, since: datetime, phone: str | None = None, client_ip: str | None = None
) -> int:
    """Codes sent since ``since`` to one phone or from one client address."""
    query = select(func.count()).select_from(SmsCode).where(*_window(since, phone, client_ip))  # type: ignore[arg-type]
    return int(session.exec(query).one())


def nth_code_time_since(
    session: Session, *, since: datetime, offset: int, phone: str | None = None, client_ip: str | None = None
) -> datetime | None:
    """When the ``offset``-th oldest code (0 = oldest) of the window was sent."""
    query = (
        select(SmsCode.created_at)
        .where(*_window(since, phone, client_ip))  # type: ignore[arg-type]
        .order_by(col(SmsCode.created_at))
        .offset(offset)
        .limit(1)
    )
    return session.exec(query).first()


def add_code(session: Session, code: SmsCode) -> SmsCode:
    session.add(code)
    session.flush()
    return code


def citizen_by_phone(session: Session, phone: str) -> Citizen | None:
    return session.exec(select(Citizen).where(col(Citizen.phone) == phone)).first()


def citizen_by_id(session: Session, citizen_id: int) -> Citizen | None:
    return session.get(Citizen, citizen_id)


def add_citizen(session: Session, citizen: Citizen) -> Citizen | None:
    """Insert in a savepoint; None when another transaction registered the same phone first."""
    try:
        with session.begin_nested():
            session.add(citizen)
            session.flush()
    except IntegrityError:
        return None
    return citizen


def citizen_by_openid(session: Session, openid: str) -> Citizen | None:
    return session.exec(select(Citizen).where(col(Citizen.openid) == openid)).first()


def add_wechat_citizen(session: Session, citizen: Citizen) -> Citizen | None:
    """Insert in a savepoint; None when another transaction registered the same openid first."""
    return add_citizen(session, citizen)


def move_citizen_records(session: Session, *, from_id: int, to_id: int) -> None:
    """Re-point the cases, follows, reward ledger and redemptions of one citizen to another.

    A follow the kept citizen already has (or of a case it reported) is dropped rather than moved.
    """
    followed_by_kept = select(CaseFollower.case_id).where(col(CaseFollower.citizen_id) == to_id)
    reported_by_kept = select(Case.id).where(col(Case.reporter_citizen_id) == to_id)
    reported_by_other = select(Case.id).where(col(Case.reporter_citizen_id) == from_id)
    session.execute(
        delete(CaseFollower).where(
            col(CaseFollower.citizen_id) == from_id,
            or_(
                col(CaseFollower.case_id).in_(followed_by_kept),
                col(CaseFollower.case_id).in_(reported_by_kept),
            ),
        )
    )
    # The kept citizen would otherwise follow a case it now reports.
    session.execute(
        delete(CaseFollower).where(
            col(CaseFollower.citizen_id) == to_id, col(CaseFollower.case_id).in_(reported_by_other)
        )
    )
    session.execute(
        update(CaseFollower).where(col(CaseFollower.citizen_id) == from_id).values(citizen_id=to_id)
    )
    session.execute(
        update(Case).where(col(Case.reporter_citizen_id) == from_id).values(reporter_citizen_id=to_id)
    )
    session.execute(
        update(RewardEntry).where(col(RewardEntry.citizen_id) == from_id).values(citizen_id=to_id)
    )
    session.execute(update(Redemption).where(col(Redemption.citizen_id) == from_id).values(citizen_id=to_id))
    # WeChat consents belong to the openid, which moves to the kept citizen (who had none).
    session.execute(delete(SubscribeConsent).where(col(SubscribeConsent.citizen_id) == to_id))
    session.execute(
        update(SubscribeConsent).where(col(SubscribeConsent.citizen_id) == from_id).values(citizen_id=to_id)
    )
