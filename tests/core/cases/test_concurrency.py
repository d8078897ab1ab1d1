"""Two dispatchers act on the same case at the same moment: one wins, the other gets a 409 conflict.
Real transactions on their own database (committed data), one thread each."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core.cases.errors import ConcurrentUpdate
from core.cases.service import ActionInput, get_case, perform
from core.cases.workflow import Action
from core.db import build_engine
from core.errors import DomainError
from core.migrate import upgrade
from core.models import Case, CaseStatus, Channel, Department, StaffRole, StaffUser
from core.settings import get_settings
from tests.conftest import database_url, drop_database
from tests.fixtures.cases import build_city
from tests.fixtures.factories import Factory


@pytest.fixture
def committed() -> Iterator[tuple[sa.Engine, str, int, int]]:
    url = database_url("concurrency")
    engine = build_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        city = build_city(session, Factory(session))
        lng, lat = city.point()
        case = Case(
            case_no="20261121WX9001",
            channel=Channel.MINIPROGRAM,
            status=CaseStatus.REGISTERED,
            category_id=city.manhole.id,
            register_standard_id=city.manhole_loose.id,
            description="井盖缺失",
            lng=lng,
            lat=lat,
            unit_grid_code=f"{city.community.code}001",
            community_code=city.community.code,
            street_code=city.community.code[:9],
            district_code=city.community.code[:6],
            handle_limit_kind=city.manhole_loose.time_limit_kind,
            handle_limit_amount=city.manhole_loose.time_limit_amount,
        )
        session.add(case)
        dispatcher = city.staff[StaffRole.DISPATCHER]
        other = city.staff_member(StaffRole.SHIFT_LEAD)
        session.commit()
        assert dispatcher.id is not None
        assert other.id is not None
        ids = (dispatcher.id, other.id)
        case_no = case.case_no
    yield engine, case_no, *ids
    engine.dispose()
    drop_database(url)


def test_concurrent_dispatch_one_wins_one_conflicts(committed: tuple[sa.Engine, str, int, int]) -> None:
    engine, case_no, first_id, second_id = committed
    settings = get_settings()
    barrier = threading.Barrier(2, timeout=30)
    outcomes: dict[int, str] = {}

    def dispatch(staff_id: int, department: str) -> None:
        with Session(engine, expire_on_commit=False) as session:
            staff = session.get(StaffUser, staff_id)
            assert staff is not None
            get_case(session, case_no)  # both have read the case before either writes
            barrier.wait()
            try:
                perform(
                    session,
                    settings,
                    case_no=case_no,
                    actor=staff,
                    action=Action.DISPATCH,
                    data=ActionInput(department_code=department),
                )
                session.commit()
                outcomes[staff_id] = "ok"
            except ConcurrentUpdate:
                session.rollback()
                outcomes[staff_id] = "conflict"
            except DomainError as exc:  # the loser may also see the winner's new state
                session.rollback()
                outcomes[staff_id] = exc.code

    threads = [
        threading.Thread(target=dispatch, args=(first_id, "M01")),
        threading.Thread(target=dispatch, args=(second_id, "S01")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "ok"]
    winner_department = "M01" if outcomes[first_id] == "ok" else "S01"
    with Session(engine) as session:
        case = get_case(session, case_no)
        assert case.status is CaseStatus.DISPATCHED
        department = session.get(Department, case.department_id)
        assert department is not None
        assert department.code == winner_department


def test_concurrent_case_numbers_are_unique(committed: tuple[sa.Engine, str, int, int]) -> None:
    from datetime import date

    from core.cases.repository import next_sequence

    engine = committed[0]
    taken: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        with Session(engine) as session:
            number = next_sequence(session, date(2026, 11, 21), "wx")
            session.commit()
        with lock:
            taken.append(number)

    threads = [threading.Thread(target=take) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken) == list(range(1, 41))
