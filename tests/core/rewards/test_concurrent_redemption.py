"""Two citizens redeem the last item at the same moment: one gets it, the other is told it is gone;
one citizen redeeming twice at once never goes below zero. Real transactions, one thread each."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core.db import build_engine
from core.errors import DomainError
from core.migrate import upgrade
from core.models import Citizen
from core.models.rewards import RewardEntry, RewardItem, RewardItemKind, RewardReason
from core.rewards import repository
from core.rewards import service as rewards
from tests.conftest import database_url, drop_database


@pytest.fixture
def shop() -> Iterator[tuple[sa.Engine, list[int]]]:
    url = database_url("rewards")
    engine = build_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        citizens = [Citizen(phone=f"1370000000{index}") for index in range(3)]
        session.add_all(citizens)
        session.flush()
        for citizen in citizens:
            session.add(RewardEntry(citizen_id=citizen.id, points=15, reason=RewardReason.REPORT_REGISTERED))
        session.add(
            RewardItem(code="LAST", name="最后一张券", kind=RewardItemKind.COUPON, points_cost=10, stock=1)
        )
        session.add(
            RewardItem(code="MANY", name="话费", kind=RewardItemKind.PHONE_CREDIT, points_cost=10, stock=9)
        )
        session.commit()
        ids = [citizen.id for citizen in citizens if citizen.id is not None]
    yield engine, ids
    engine.dispose()
    drop_database(url)


def race(engine: sa.Engine, attempts: list[tuple[int, str, str]]) -> list[str]:
    barrier = threading.Barrier(len(attempts), timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(citizen_id: int, item: str, key: str) -> None:
        with Session(engine) as session:
            citizen = session.get(Citizen, citizen_id)
            assert citizen is not None
            barrier.wait()
            try:
                rewards.redeem(session, citizen=citizen, item_code=item, idempotency_key=key)
                session.commit()
                result = "ok"
            except DomainError as exc:
                session.rollback()
                result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=args) for args in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_the_last_item_is_sold_once(shop: tuple[sa.Engine, list[int]]) -> None:
    engine, (first, second, _) = shop
    outcomes = race(engine, [(first, "LAST", "race-last-0001"), (second, "LAST", "race-last-0002")])
    # PostgreSQL queues the second and answers "out of stock"; SQLite may refuse it as busy. Never two.
    assert outcomes in (["ok", "out_of_stock"], ["busy", "ok"])
    with Session(engine) as session:
        assert repository.item_by_code(session, "LAST").stock == 0  # type: ignore[union-attr]


def test_one_citizen_never_goes_below_zero(shop: tuple[sa.Engine, list[int]]) -> None:
    engine, (_, _, third) = shop
    outcomes = race(engine, [(third, "MANY", "race-many-0001"), (third, "MANY", "race-many-0002")])
    assert outcomes in (["insufficient_points", "ok"], ["busy", "ok"])
    with Session(engine) as session:
        assert repository.balance(session, third) == 5
