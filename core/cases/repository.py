"""Every query on cases."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from core.db import side_engine
from core.models import (
    Case,
    CaseEvent,
    CaseNumberCounter,
    CasePause,
    CasePhoto,
    CaseRequest,
    CaseStatus,
    Category,
    Department,
    RegisterStandard,
    RequestKind,
    RequestStatus,
    StaffRole,
    StaffUser,
    SupervisorGrid,
    Upload,
)
from core.models.areas import ResponsibilityGrid
from core.models.cases import CaseFollower


def by_case_no(session: Session, case_no: str) -> Case | None:
    return session.exec(select(Case).where(col(Case.case_no) == case_no)).first()


def case(session: Session, case_id: int) -> Case | None:
    return session.get(Case, case_id)


def by_idempotency_key(session: Session, citizen_id: int, key: str) -> Case | None:
    stmt = select(Case).where(col(Case.reporter_citizen_id) == citizen_id, col(Case.idempotency_key) == key)
    return session.exec(stmt).first()


@dataclass(frozen=True)
class ReportChecks:
    """What a new citizen's report is checked against, read in one statement (see ``report_checks``)."""

    existing_case_id: int | None  # the case already filed with this idempotency key
    citizen_last_hour: int
    citizen_last_day: int
    device_last_hour: int  # 0 without a device
    device_last_day: int
    category: Category | None  # the category of that code (any level, active or not)


def report_checks(
    session: Session,
    *,
    citizen_id: int,
    idempotency_key: str | None,
    device: str | None,
    category_code: str,
    hour_ago: datetime,
    day_ago: datetime,
) -> ReportChecks:
    """One round trip instead of six: the idempotency key's case, the citizen's and the device's
    report counts (the same queries as ``by_idempotency_key``, ``reports_by_citizen_since`` and
    ``reports_by_device_since``, as scalar subqueries) and the category of ``category_code``, all read
    in the caller's transaction."""

    def reports_since(column: Any, value: Any, since: datetime) -> sa.ScalarSelect[int]:
        return (
            sa.select(sa.func.count())
            .select_from(Case)
            .where(column == value, col(Case.created_at) >= since)
            .scalar_subquery()
        )

    existing = (
        sa.select(col(Case.id))
        .where(col(Case.reporter_citizen_id) == citizen_id, col(Case.idempotency_key) == idempotency_key)
        .scalar_subquery()
        if idempotency_key
        else sa.null()
    )
    zero = sa.literal(0)
    one_row = sa.select(sa.literal(1).label("one")).subquery()
    stmt = (
        sa.select(
            Category,
            existing,
            reports_since(col(Case.reporter_citizen_id), citizen_id, hour_ago),
            reports_since(col(Case.reporter_citizen_id), citizen_id, day_ago),
            reports_since(col(Case.reporter_device), device, hour_ago) if device is not None else zero,
            reports_since(col(Case.reporter_device), device, day_ago) if device is not None else zero,
        )
        .select_from(one_row)
        .outerjoin(Category, col(Category.code) == category_code)
    )
    category, existing_id, citizen_hour, citizen_day, device_hour, device_day = session.execute(stmt).one()
    return ReportChecks(
        existing_case_id=None if existing_id is None else int(existing_id),
        citizen_last_hour=int(citizen_hour),
        citizen_last_day=int(citizen_day),
        device_last_hour=int(device_hour),
        device_last_day=int(device_day),
        category=category,
    )


def insert_report(session: Session, case: Case) -> bool:
    """Insert a new citizen's case unless its (reporter, idempotency key) is taken by a case that a
    concurrent request committed first. True: inserted, and ``case`` is now persistent in the session
    with its new id (its other values are the ones just written, so nothing is read back). False: the
    key is taken, ``case`` stays transient. One statement (``ON CONFLICT DO NOTHING``, no savepoint); any
    other integrity error still raises."""
    values = {attr.key: getattr(case, attr.key) for attr in sa.inspect(Case).column_attrs if attr.key != "id"}
    dialect = session.get_bind().dialect.name
    statement = _insert_report_statement(dialect)
    new_id = session.execute(statement, values).scalar_one_or_none()
    if new_id is None:
        return False
    case.id = int(new_id)
    make_transient_to_detached(case)  # as if just loaded: every value present is the stored one
    session.add(case)
    return True


@functools.cache
def _insert_report_statement(dialect: str) -> sa.Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Case.__table__  # type: ignore[attr-defined]
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["reporter_citizen_id", "idempotency_key"])
        .returning(table.c.id)
    )


_side_slots: dict[tuple[int, int], threading.BoundedSemaphore] = {}
_side_slots_lock = threading.Lock()


def _side_slots_of(side: sa.Engine) -> threading.BoundedSemaphore:
    """One slot per connection the side pool keeps, per process (a forked child starts afresh)."""
    key = (os.getpid(), id(side))
    slots = _side_slots.get(key)
    if slots is None:
        with _side_slots_lock:
            slots = _side_slots.setdefault(key, threading.BoundedSemaphore(max(1, side.pool.size())))  # type: ignore[attr-defined]
    return slots


def next_sequence(session: Session, day: date, channel: str) -> int:
    """Atomically take the next number of (day, channel); concurrent callers never share one.

    On PostgreSQL the number is taken in its own short autocommit transaction: holding the counter's
    row lock until the request commits would queue every report of the day behind each other (a
    rolled-back request leaves a gap, which case numbers allow). SQLite has a single writer anyway, and
    a second connection writing there would break the request's own transaction, so it counts in place.

    The side pool keeps a few connections; more callers at once would open overflow connections that
    are closed again on return (a new PostgreSQL backend per case number under load), so callers beyond
    the pool's size wait for a kept connection, which is free again after one round trip.
    """
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, sa.Connection) else bind
    if isinstance(engine, sa.Engine) and engine.dialect.name == "postgresql":
        upsert = sa.text(
            "INSERT INTO case_number_counter (day, channel, last) VALUES (:day, :channel, 1) "
            "ON CONFLICT (day, channel) DO UPDATE SET last = case_number_counter.last + 1 RETURNING last"
        )
        side = side_engine(engine)
        with _side_slots_of(side), side.connect() as connection:
            return int(connection.execute(upsert, {"day": day, "channel": channel}).scalar_one())
    bump = (
        sa.update(CaseNumberCounter)
        .where(col(CaseNumberCounter.day) == day, col(CaseNumberCounter.channel) == channel)
        .values(last=col(CaseNumberCounter.last) + 1)
        .returning(col(CaseNumberCounter.last))
    )
    taken = session.execute(bump).scalar_one_or_none()
    if taken is not None:
        return int(taken)
    try:
        with session.begin_nested():
            session.add(CaseNumberCounter(day=day, channel=channel, last=1))
        return 1
    except sa.exc.IntegrityError:  # another transaction created the row first
        return int(session.execute(bump).scalar_one())


def events(session: Session, case_id: int) -> list[CaseEvent]:
    stmt = select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.id))
    return list(session.exec(stmt).all())


def photos(session: Session, case_id: int) -> list[tuple[CasePhoto, Upload]]:
    stmt = (
        select(CasePhoto, Upload)
        .join(Upload, col(Upload.id) == col(CasePhoto.upload_id))
        .where(col(CasePhoto.case_id) == case_id)
        .order_by(col(CasePhoto.id))
    )
    return [(photo, upload) for photo, upload in session.exec(stmt).all()]


def pauses(session: Session, case_id: int) -> list[CasePause]:
    stmt = select(CasePause).where(col(CasePause.case_id) == case_id).order_by(col(CasePause.started_at))
    return list(session.exec(stmt).all())


def open_pause(session: Session, case_id: int) -> CasePause | None:
    stmt = select(CasePause).where(col(CasePause.case_id) == case_id, col(CasePause.ended_at).is_(None))
    return session.exec(stmt).first()


def pending_request(session: Session, case_id: int, kind: RequestKind) -> CaseRequest | None:
    stmt = select(CaseRequest).where(
        col(CaseRequest.case_id) == case_id,
        col(CaseRequest.kind) == kind,
        col(CaseRequest.status) == RequestStatus.PENDING,
    )
    return session.exec(stmt).first()


def requests(session: Session, case_id: int) -> list[CaseRequest]:
    stmt = select(CaseRequest).where(col(CaseRequest.case_id) == case_id).order_by(col(CaseRequest.id))
    return list(session.exec(stmt).all())


def category(session: Session, category_id: int) -> Category | None:
    return session.get(Category, category_id)


def category_by_code(session: Session, code: str) -> Category | None:
    return session.exec(select(Category).where(col(Category.code) == code)).first()


def standards_of(session: Session, category_id: int) -> list[RegisterStandard]:
    stmt = (
        select(RegisterStandard)
        .where(col(RegisterStandard.category_id) == category_id)
        .order_by(col(RegisterStandard.seq))
    )
    return list(session.exec(stmt).all())


def all_categories(session: Session) -> list[Category]:
    return list(session.exec(select(Category).where(col(Category.active)).order_by(col(Category.code))).all())


def all_standards(session: Session) -> list[RegisterStandard]:
    return list(session.exec(select(RegisterStandard).order_by(col(RegisterStandard.seq))).all())


def department_by_code(session: Session, code: str) -> Department | None:
    return session.exec(
        select(Department).where(col(Department.code) == code, col(Department.active))
    ).first()


def department(session: Session, department_id: int | None) -> Department | None:
    return session.get(Department, department_id) if department_id is not None else None


def staff(session: Session, staff_id: int | None) -> StaffUser | None:
    return session.get(StaffUser, staff_id) if staff_id is not None else None


def on_duty_supervisors_of_grid(session: Session, responsibility_grid_code: str) -> list[StaffUser]:
    stmt = (
        select(StaffUser)
        .join(SupervisorGrid, col(SupervisorGrid.staff_id) == col(StaffUser.id))
        .join(ResponsibilityGrid, col(ResponsibilityGrid.id) == col(SupervisorGrid.responsibility_grid_id))
        .where(
            col(ResponsibilityGrid.code) == responsibility_grid_code,
            col(StaffUser.role) == StaffRole.SUPERVISOR,
            col(StaffUser.on_duty),
            col(StaffUser.active),
        )
        .order_by(col(StaffUser.id))
    )
    return list(session.exec(stmt).all())


def on_duty_supervisors(session: Session) -> list[StaffUser]:
    stmt = (
        select(StaffUser)
        .where(col(StaffUser.role) == StaffRole.SUPERVISOR, col(StaffUser.on_duty), col(StaffUser.active))
        .order_by(col(StaffUser.id))
    )
    return list(session.exec(stmt).all())


def area_code(session: Session, area_id: int | None) -> str | None:
    from core.models import AdminArea

    if area_id is None:
        return None
    area = session.get(AdminArea, area_id)
    return area.code if area else None


def cases_where(
    session: Session,
    *conditions: sa.ColumnElement[bool],
    limit: int,
    offset: int,
    order: Sequence[Any] | None = None,
) -> tuple[list[Case], int]:
    base = select(Case).where(*conditions)
    total = int(session.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one())
    ordering = list(order) if order is not None else [col(Case.id).desc()]
    rows = session.exec(base.order_by(*ordering).limit(limit).offset(offset)).all()
    return list(rows), total


def open_cases_due_before(session: Session, moment: datetime) -> list[Case]:
    """Open cases with any stage deadline before ``moment`` (candidates for overdue/urge)."""
    stmt = select(Case).where(
        col(Case.status).in_(
            [
                CaseStatus.PENDING,
                CaseStatus.ACCEPTED,
                CaseStatus.VERIFYING,
                CaseStatus.REGISTERED,
                CaseStatus.DISPATCHED,
                CaseStatus.CHECKING,
                CaseStatus.HANDLED,
            ]
        ),
        sa.or_(
            col(Case.register_due_at) < moment,
            col(Case.dispatch_due_at) < moment,
            col(Case.handle_due_at) < moment,
            col(Case.check_due_at) < moment,
        ),
    )
    return list(session.exec(stmt).all())


def followers_and_reporter(session: Session, case: Case) -> list[int]:
    """Citizens who hear about this case: its reporter and everyone who said "me too"."""
    ids = follower_ids(session, case.id) if case.id is not None else []
    if case.reporter_citizen_id is not None:
        ids.append(case.reporter_citizen_id)
    return sorted(set(ids))


def follower_ids(session: Session, case_id: int) -> list[int]:
    stmt = select(CaseFollower.citizen_id).where(col(CaseFollower.case_id) == case_id)
    return list(session.exec(stmt).all())


def follower_count(session: Session, case_id: int) -> int:
    stmt = sa.select(sa.func.count()).select_from(CaseFollower).where(col(CaseFollower.case_id) == case_id)
    return int(session.execute(stmt).scalar_one())


def follower_counts(session: Session, case_ids: set[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    stmt = (
        sa.select(col(CaseFollower.case_id), sa.func.count())
        .where(col(CaseFollower.case_id).in_(sorted(case_ids)))
        .group_by(col(CaseFollower.case_id))
    )
    return {case_id: int(count) for case_id, count in session.execute(stmt)}


def follower(session: Session, case_id: int, citizen_id: int) -> CaseFollower | None:
    return session.get(CaseFollower, (case_id, citizen_id))


def is_follower(session: Session, case_id: int, citizen_id: int) -> bool:
    return follower(session, case_id, citizen_id) is not None


def followed_cases(session: Session, citizen_id: int, *, limit: int, offset: int) -> tuple[list[Case], int]:
    followed = select(CaseFollower.case_id).where(col(CaseFollower.citizen_id) == citizen_id)
    return cases_where(session, col(Case.id).in_(followed), limit=limit, offset=offset)


def handling_due_before(session: Session, moment: datetime) -> list[Case]:
    stmt = select(Case).where(
        col(Case.status) == CaseStatus.DISPATCHED,
        col(Case.handle_due_at).is_not(None),
        col(Case.handle_due_at) < moment,
    )
    return list(session.exec(stmt).all())


def system_urged_since(session: Session, case: Case, since: datetime) -> bool:
    from core.models import ActorKind

    stmt = select(CaseEvent.id).where(
        col(CaseEvent.case_id) == case.id,
        col(CaseEvent.action) == "urge",
        col(CaseEvent.actor_kind) == ActorKind.SYSTEM,
        col(CaseEvent.created_at) >= since,
    )
    return session.exec(stmt).first() is not None


def cases_of_citizen(session: Session, citizen_id: int, *, limit: int, offset: int) -> tuple[list[Case], int]:
    return cases_where(session, col(Case.reporter_citizen_id) == citizen_id, limit=limit, offset=offset)


def categories_by_ids(session: Session, ids: set[int]) -> dict[int, Category]:
    if not ids:
        return {}
    rows = session.exec(select(Category).where(col(Category.id).in_(sorted(ids)))).all()
    return {row.id: row for row in rows if row.id is not None}


def departments_by_ids(session: Session, ids: set[int]) -> dict[int, Department]:
    if not ids:
        return {}
    rows = session.exec(select(Department).where(col(Department.id).in_(sorted(ids)))).all()
    return {row.id: row for row in rows if row.id is not None}


def cases_showing_upload(session: Session, upload_id: str) -> list[tuple[CasePhoto, Case]]:
    stmt = select(CasePhoto, Case).join(Case, col(Case.id) == col(CasePhoto.case_id))
    return [
        (photo, case) for photo, case in session.exec(stmt.where(col(CasePhoto.upload_id) == upload_id)).all()
    ]


def cases_with_pending_requests() -> sa.ColumnElement[bool]:
    """A condition: the case has an extension or suspension request waiting for a decision."""
    pending = select(CaseRequest.case_id).where(col(CaseRequest.status) == RequestStatus.PENDING)
    return col(Case.id).in_(pending)


def open_public_in_box(
    session: Session,
    *,
    min_lng: float,
    max_lng: float,
    min_lat: float,
    max_lat: float,
    category_ids: list[int] | None,
    since: datetime | None,
    limit: int,
) -> list[Case]:
    """Open, public cases inside a bounding box (the caller measures the real distance)."""
    conditions = [
        col(Case.status).in_(
            [s for s in CaseStatus if s not in {CaseStatus.CLOSED, CaseStatus.VOIDED, CaseStatus.MERGED}]
        ),
        col(Case.is_public),
        col(Case.lng).between(min_lng, max_lng),
        col(Case.lat).between(min_lat, max_lat),
    ]
    if category_ids is not None:
        conditions.append(col(Case.category_id).in_(category_ids))
    if since is not None:
        conditions.append(col(Case.created_at) >= since)
    stmt = select(Case).where(*conditions).order_by(col(Case.id).desc()).limit(limit)
    return list(session.exec(stmt).all())


def minor_ids_of_major(session: Session, major_id: int) -> list[int]:
    stmt = select(Category.id).where(col(Category.parent_id) == major_id)
    return [category_id for category_id in session.exec(stmt).all() if category_id is not None]


def reports_by_citizen_since(session: Session, citizen_id: int, since: datetime) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(Case)
        .where(col(Case.reporter_citizen_id) == citizen_id, col(Case.created_at) >= since)
    )
    return int(session.execute(stmt).scalar_one())


def reports_by_device_since(session: Session, device: str, since: datetime) -> int:
    """Reports filed from one device (its keyed hash) since a moment (a range of one index)."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(Case)
        .where(col(Case.reporter_device) == device, col(Case.created_at) >= since)
    )
    return int(session.execute(stmt).scalar_one())


def citizens_of_device_since(session: Session, device: str, since: datetime) -> int:
    """How many distinct citizens reported from one device since a moment."""
    stmt = sa.select(sa.func.count(sa.distinct(col(Case.reporter_citizen_id)))).where(
        col(Case.reporter_device) == device,
        col(Case.created_at) >= since,
        col(Case.reporter_citizen_id).is_not(None),
    )
    return int(session.execute(stmt).scalar_one())


def voided_reports_of_citizen_since(session: Session, citizen_id: int, since: datetime) -> tuple[int, int]:
    """(reports, of which voided) filed by a citizen since a moment, in one query."""
    voided = sa.func.coalesce(sa.func.sum(sa.case((col(Case.status) == CaseStatus.VOIDED, 1), else_=0)), 0)
    stmt = sa.select(sa.func.count(), voided).where(
        col(Case.reporter_citizen_id) == citizen_id, col(Case.created_at) >= since
    )
    total, voided_count = session.execute(stmt).one()
    return int(total), int(voided_count)


def report_times_of_citizen_between(
    session: Session, citizen_id: int, start: datetime, end: datetime, *, limit: int
) -> list[datetime]:
    """When a citizen filed reports within [start, end], oldest first (at most ``limit``)."""
    stmt = (
        select(Case.created_at)
        .where(
            col(Case.reporter_citizen_id) == citizen_id,
            col(Case.created_at) >= start,
            col(Case.created_at) <= end,
        )
        .order_by(col(Case.created_at), col(Case.id))
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def previous_report_of_citizen(session: Session, case: Case, *, since: datetime) -> Case | None:
    """The same reporter's report filed just before ``case`` (and not before ``since``), if any."""
    stmt = (
        select(Case)
        .where(
            col(Case.reporter_citizen_id) == case.reporter_citizen_id,
            col(Case.id) != case.id,
            col(Case.created_at) >= since,
            sa.or_(
                col(Case.created_at) < case.created_at,
                sa.and_(col(Case.created_at) == case.created_at, col(Case.id) < case.id),
            ),
        )
        .order_by(col(Case.created_at).desc(), col(Case.id).desc())
        .limit(1)
    )
    return session.exec(stmt).first()
