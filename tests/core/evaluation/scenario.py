"""Evaluation test data: cases and their history written directly (times chosen by the test), and a
seeded random city month whose every number the tests recount with independent SQL."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from core.kit.clock import SHANGHAI
from core.models import (
    ActorKind,
    AdminArea,
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    Channel,
    Department,
    StaffRole,
    StaffUser,
)
from tests.fixtures.cases import City
from tests.fixtures.factories import cell

_numbers = itertools.count(1)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A local (Asia/Shanghai) wall-clock time as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class World:
    """The test city plus a second street, a second supervisor and operator, and case writers."""

    city: City
    session: Session
    communities: list[AdminArea]
    departments: list[Department]
    categories: list[Category]
    operators: list[StaffUser]
    dispatchers: list[StaffUser]
    supervisors: list[StaffUser]
    shift_lead: StaffUser
    handler: StaffUser
    cases: list[Case] = field(default_factory=list)

    def case(
        self,
        created: datetime,
        *,
        community: AdminArea | None = None,
        channel: Channel = Channel.MINIPROGRAM,
        status: CaseStatus = CaseStatus.PENDING,
        category: Category | None = None,
        reporter: StaffUser | None = None,
        **columns: object,
    ) -> Case:
        community = community or self.communities[0]
        lng, lat = self.city.point()
        case = Case(
            case_no=f"EV{next(_numbers):08d}",
            channel=channel,
            status=status,
            reporter_staff_id=reporter.id if reporter else None,
            category_id=(category or self.categories[0]).id,
            description="评价测试案件",
            lng=lng,
            lat=lat,
            unit_grid_code=f"{community.code}001",
            community_code=community.code,
            street_code=community.code[:9],
            district_code=community.code[:6],
            responsibility_grid_code=f"{community.code}01",
            created_at=created,
            updated_at=created,
            **columns,
        )
        self.session.add(case)
        self.session.flush()
        self.cases.append(case)
        return case

    def event(
        self,
        case: Case,
        action: str,
        at: datetime,
        *,
        actor: StaffUser | None = None,
        to: CaseStatus | None = None,
        department: Department | None = None,
    ) -> CaseEvent:
        assert case.id is not None
        event = CaseEvent(
            case_id=case.id,
            actor_kind=ActorKind.STAFF if actor else ActorKind.SYSTEM,
            actor_id=actor.id if actor else None,
            actor_role=actor.role.value if actor else "system",
            action=action,
            from_status=None,
            to_status=to or case.status,
            department_id=department.id if department else None,
            created_at=at,
        )
        self.session.add(event)
        self.session.flush()
        return event


def build_world(city: City) -> World:
    session, factory = city.session, city.factory
    second = factory.area_tree(street="002", community="001")
    factory.responsibility_grid(second)
    factory.unit_grid(second, 1, cell(5, 5))
    staff = city.staff
    return World(
        city=city,
        session=session,
        communities=[city.community, second],
        departments=[city.municipal, city.sanitation],
        categories=[city.manhole, city.rubbish],
        operators=[staff[StaffRole.OPERATOR], city.staff_member(StaffRole.OPERATOR, name="受理员乙")],
        dispatchers=[staff[StaffRole.DISPATCHER], city.staff_member(StaffRole.DISPATCHER, name="派遣员乙")],
        supervisors=[staff[StaffRole.SUPERVISOR], city.staff_member(StaffRole.SUPERVISOR, name="监督员乙")],
        shift_lead=staff[StaffRole.SHIFT_LEAD],
        handler=staff[StaffRole.HANDLER],
    )


def populate(world: World, *, seed: int, count: int, start: datetime, days: int) -> None:
    """``count`` cases reported in ``days`` days from ``start`` with random but coherent histories:
    accept/void, register, dispatch (some returned and dispatched again), handle, check (some reworked),
    close, overdue marks, urges."""
    rng = random.Random(seed)
    for _ in range(count):
        at = start + timedelta(minutes=rng.randrange(days * 24 * 60))
        supervisor = rng.random() < 0.3
        reporter = rng.choice(world.supervisors) if supervisor else None
        case = world.case(
            at,
            community=rng.choice(world.communities),
            channel=Channel.SUPERVISOR if supervisor else Channel.MINIPROGRAM,
            category=rng.choice(world.categories),
            reporter=reporter,
            register_due_at=at + timedelta(hours=rng.choice([1, 4, 24])),
        )
        if reporter:
            world.event(case, "report", at, actor=reporter, to=CaseStatus.PENDING)
        t = at

        def step(hours: float) -> datetime:
            nonlocal t
            t = t + timedelta(hours=hours * rng.uniform(0.2, 1.5))
            return t

        operator = rng.choice([*world.operators, world.shift_lead])
        if rng.random() < 0.2:
            world.event(case, "accept", step(0.5), actor=operator, to=CaseStatus.ACCEPTED)
        if rng.random() < 0.12:
            case.status = CaseStatus.VOIDED
            world.event(case, "void", step(1), actor=operator, to=CaseStatus.VOIDED)
            continue
        if rng.random() < 0.1:
            continue  # still pending
        case.status = CaseStatus.REGISTERED
        case.registered_at = step(3)
        world.event(case, "register", case.registered_at, actor=operator, to=CaseStatus.REGISTERED)
        for _attempt in range(3):
            if rng.random() < 0.1:
                break  # waits for dispatch
            dispatcher = rng.choice([*world.dispatchers, world.shift_lead])
            department = rng.choice(world.departments)
            case.status = CaseStatus.DISPATCHED
            case.department_id = department.id
            case.dispatched_at = case.handle_started_at = step(2)
            case.handle_due_at = t + timedelta(hours=rng.choice([4, 24, 72]))
            case.handled_at = None
            world.event(
                case, "dispatch", t, actor=dispatcher, to=CaseStatus.DISPATCHED, department=department
            )
            if rng.random() < 0.2:
                case.status = CaseStatus.REGISTERED
                world.event(
                    case,
                    "return",
                    step(5),
                    actor=world.handler,
                    to=CaseStatus.REGISTERED,
                    department=department,
                )
                case.department_id = None
                continue
            break
        if case.status is not CaseStatus.DISPATCHED:
            continue
        if rng.random() < 0.15:
            world.event(case, "urge", step(1), actor=world.shift_lead, to=case.status)
        for _round in range(2):
            if rng.random() < 0.1:
                break  # still handling
            department = next(d for d in world.departments if d.id == case.department_id)
            case.status = CaseStatus.HANDLED
            case.handled_at = step(30)
            world.event(case, "handle", t, actor=world.handler, to=CaseStatus.HANDLED, department=department)
            if case.handle_due_at is not None and t > case.handle_due_at and rng.random() < 0.8:
                case.overdue = True
                world.event(
                    case,
                    "overdue",
                    case.handle_due_at + timedelta(minutes=5),
                    to=case.status,
                    department=department,
                )
            checker = rng.choice(world.supervisors)
            if rng.random() < 0.2:
                case.status = CaseStatus.DISPATCHED
                case.handle_started_at = step(4)
                case.handle_due_at = t + timedelta(hours=24)
                case.handled_at = None
                world.event(case, "check", t, actor=checker, to=CaseStatus.DISPATCHED, department=department)
                continue
            if rng.random() < 0.85:
                case.status = CaseStatus.CLOSED
                case.closed_at = step(6)
                world.event(case, "check", t, actor=checker, to=CaseStatus.CLOSED, department=department)
            break
        world.session.add(case)
    world.session.flush()
