"""Read-only views of the master data for the console's pages (every query of those pages)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models import (
    AdminArea,
    AreaLevel,
    Category,
    CategoryLevel,
    Department,
    ImportBatch,
    Place,
    PlaceKind,
    RegisterStandard,
    ResponsibilityGrid,
    RoutingRule,
    StaffUser,
    SupervisorGrid,
    UnitGrid,
)
from core.models.places import ParkingOperator


@dataclass
class CategoryRow:
    category: Category
    parent: Category | None
    standards: list[RegisterStandard] = field(default_factory=list)
    default_department: Department | None = None


@dataclass(frozen=True)
class RoutingRow:
    rule: RoutingRule
    category: Category
    area: AdminArea | None
    department: Department


@dataclass(frozen=True)
class CommunityGrids:
    community: AdminArea
    street: AdminArea | None
    unit_grids: int
    responsibility_grids: int


@dataclass(frozen=True)
class ResponsibilityRow:
    grid: ResponsibilityGrid
    community: AdminArea | None
    unit_grids: int
    supervisors: list[StaffUser]


@dataclass(frozen=True)
class PlaceFilter:
    kind: PlaceKind | None = None
    text: str = ""
    active: bool | None = None
    operator_id: int | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def last_imports(session: Session) -> dict[str, ImportBatch]:
    """The latest import batch of each kind."""
    latest = (
        sa.select(col(ImportBatch.kind), sa.func.max(col(ImportBatch.id)).label("id"))
        .group_by(col(ImportBatch.kind))
        .subquery()
    )
    stmt = select(ImportBatch).join(latest, col(ImportBatch.id) == latest.c.id)
    return {batch.kind: batch for batch in session.exec(stmt).all()}


def categories(session: Session) -> list[CategoryRow]:
    """Major categories each followed by their minor ones, with standards and default department."""
    all_categories = list(session.exec(select(Category).order_by(col(Category.code))).all())
    by_id = {c.id: c for c in all_categories}
    rows = {c.id: CategoryRow(c, by_id.get(c.parent_id) if c.parent_id else None) for c in all_categories}
    for standard in session.exec(
        select(RegisterStandard).order_by(col(RegisterStandard.category_id), col(RegisterStandard.seq))
    ).all():
        if standard.category_id in rows:
            rows[standard.category_id].standards.append(standard)
    departments = {d.id: d for d in session.exec(select(Department)).all()}
    defaults = session.exec(select(RoutingRule).where(col(RoutingRule.area_id).is_(None))).all()
    for rule in defaults:
        if rule.category_id in rows:
            rows[rule.category_id].default_department = departments.get(rule.department_id)
    ordered: list[CategoryRow] = []
    for category in all_categories:
        if category.level is CategoryLevel.MAJOR:
            ordered.append(rows[category.id])
            ordered.extend(rows[c.id] for c in all_categories if c.parent_id == category.id)
    ordered.extend(
        row for row in rows.values() if row.category.level is CategoryLevel.MINOR and row.parent is None
    )
    return ordered


def departments(session: Session) -> list[tuple[Department, Department | None, int]]:
    """(department, parent, active handler accounts) by code."""
    rows = list(session.exec(select(Department).order_by(col(Department.code))).all())
    by_id = {d.id: d for d in rows}
    counts = dict(
        session.execute(
            sa.select(col(StaffUser.department_id), sa.func.count())
            .where(col(StaffUser.active), col(StaffUser.department_id).is_not(None))
            .group_by(col(StaffUser.department_id))
        ).all()
    )
    return [(d, by_id.get(d.parent_id) if d.parent_id else None, int(counts.get(d.id, 0))) for d in rows]


def routing(session: Session) -> list[RoutingRow]:
    categories_by_id = {c.id: c for c in session.exec(select(Category)).all()}
    areas = {a.id: a for a in session.exec(select(AdminArea)).all()}
    departments_by_id = {d.id: d for d in session.exec(select(Department)).all()}
    rows = [
        RoutingRow(
            rule,
            categories_by_id[rule.category_id],
            areas.get(rule.area_id) if rule.area_id else None,
            departments_by_id[rule.department_id],
        )
        for rule in session.exec(select(RoutingRule)).all()
    ]
    rows.sort(key=lambda r: (r.category.code, r.area.code if r.area else ""))
    return rows


def grid_counts(session: Session) -> list[CommunityGrids]:
    areas = {a.id: a for a in session.exec(select(AdminArea)).all()}
    units = dict(
        session.execute(
            sa.select(col(UnitGrid.community_id), sa.func.count()).group_by(col(UnitGrid.community_id))
        ).all()
    )
    responsibility = dict(
        session.execute(
            sa.select(col(ResponsibilityGrid.community_id), sa.func.count()).group_by(
                col(ResponsibilityGrid.community_id)
            )
        ).all()
    )
    communities = sorted(
        (a for a in areas.values() if a.level is AreaLevel.COMMUNITY), key=lambda area: area.code
    )
    return [
        CommunityGrids(
            community=c,
            street=areas.get(c.parent_id) if c.parent_id else None,
            unit_grids=int(units.get(c.id, 0)),
            responsibility_grids=int(responsibility.get(c.id, 0)),
        )
        for c in communities
    ]


def responsibility_grids(session: Session) -> list[ResponsibilityRow]:
    areas = {a.id: a for a in session.exec(select(AdminArea)).all()}
    units = dict(
        session.execute(
            sa.select(col(UnitGrid.responsibility_grid_id), sa.func.count())
            .where(col(UnitGrid.responsibility_grid_id).is_not(None))
            .group_by(col(UnitGrid.responsibility_grid_id))
        ).all()
    )
    supervisors: dict[int, list[StaffUser]] = {}
    for link, staff in session.exec(
        select(SupervisorGrid, StaffUser)
        .join(StaffUser, col(StaffUser.id) == col(SupervisorGrid.staff_id))
        .order_by(col(StaffUser.username))
    ).all():
        supervisors.setdefault(link.responsibility_grid_id, []).append(staff)
    grids = session.exec(select(ResponsibilityGrid).order_by(col(ResponsibilityGrid.code))).all()
    return [
        ResponsibilityRow(
            grid=g,
            community=areas.get(g.community_id),
            unit_grids=int(units.get(g.id, 0)),
            supervisors=supervisors.get(g.id or 0, []),
        )
        for g in grids
    ]


def operators(session: Session) -> list[ParkingOperator]:
    return list(session.exec(select(ParkingOperator).order_by(col(ParkingOperator.name))).all())


def places(
    session: Session, where: PlaceFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[Place], int]:
    stmt = select(Place)
    if where.kind is not None:
        stmt = stmt.where(col(Place.kind) == where.kind)
    if where.active is not None:
        stmt = stmt.where(col(Place.active) == where.active)
    if where.operator_id is not None:
        stmt = stmt.where(col(Place.operator_id) == where.operator_id)
    text = where.text.strip()
    if text:
        pattern = f"%{_escape_like(text)}%"
        stmt = stmt.where(
            sa.or_(
                col(Place.code).like(pattern, escape="\\"),
                col(Place.name).like(pattern, escape="\\"),
                col(Place.address).like(pattern, escape="\\"),
            )
        )
    total = int(session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one())
    rows = session.exec(stmt.order_by(col(Place.code)).limit(limit).offset(offset)).all()
    return list(rows), total
