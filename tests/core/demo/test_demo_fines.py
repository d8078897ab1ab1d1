"""The demo decisions of the payment walkthrough (docs/demo-payments.md): known numbers and names, one
per state, what the lookup answers for each on the day they are loaded, and loading them again (also
days later) changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.db import build_engine, session_scope
from core.demo.fines import DEMO_FINES, ensure_demo_fines
from core.demo.load import load_demo
from core.kit.clock import SHANGHAI
from core.migrate import upgrade
from core.models import FineStatus, PenaltyDecision
from core.settings import get_settings
from payments.fines.service import fine_out
from tests.conftest import database_url, drop_database

TODAY = date(2026, 6, 10)
NOON = datetime(2026, 6, 10, 12, tzinfo=SHANGHAI).astimezone(UTC)
NUMBERS = [fine.decision_no for fine in DEMO_FINES]


def decisions(session: Session) -> dict[str, PenaltyDecision]:
    rows = session.exec(select(PenaltyDecision).where(col(PenaltyDecision.decision_no).in_(NUMBERS))).all()
    return {row.decision_no: row for row in rows}


def test_the_documented_numbers_names_and_amounts(session: Session) -> None:
    assert ensure_demo_fines(session, today=TODAY) == NUMBERS
    loaded = decisions(session)
    answers = {number: fine_out(loaded[number], now=NOON) for number in NUMBERS}

    payable = answers["DEMO-2026-001"]
    assert loaded["DEMO-2026-001"].party_name == "张三"
    assert (payable.status, payable.amount_yuan, payable.late_fee_fen, payable.total_yuan) == (
        FineStatus.UNPAID,
        "200.00",
        0,
        "200.00",
    )
    assert payable.due_on == TODAY + timedelta(days=12)

    overdue = answers["DEMO-2026-002"]
    assert loaded["DEMO-2026-002"].party_name == "李四"
    assert (overdue.late_days, overdue.late_fee_yuan, overdue.total_yuan) == (10, "150.00", "650.00")

    deferred = answers["DEMO-2026-003"]
    assert loaded["DEMO-2026-003"].party_name == "王五"
    assert (deferred.status, deferred.late_days, deferred.total_yuan) == (FineStatus.DEFERRED, 0, "100.00")
    assert deferred.deferral_until == TODAY + timedelta(days=30)

    paid = answers["DEMO-2026-004"]
    assert loaded["DEMO-2026-004"].party_name == "新余市渝水区示例餐饮店"
    assert (paid.status, paid.total_fen) == (FineStatus.PAID, None)


def test_loading_again_changes_nothing(session: Session) -> None:
    ensure_demo_fines(session, today=TODAY)
    before = {number: (row.id, row.served_on, row.due_on) for number, row in decisions(session).items()}
    assert ensure_demo_fines(session, today=TODAY + timedelta(days=7)) == []
    after = {number: (row.id, row.served_on, row.due_on) for number, row in decisions(session).items()}
    assert after == before


@pytest.fixture(scope="module")
def demo_engine() -> Iterator[sa.Engine]:
    url = database_url("demo_fines")
    engine = build_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_database(url)


@pytest.mark.slow
def test_zhcg_demo_loads_them_once(demo_engine: sa.Engine, tmp_path: Path) -> None:
    with session_scope(demo_engine) as session:
        first = load_demo(session, settings=get_settings(), out_dir=tmp_path / "a", seed=7)
    with session_scope(demo_engine) as session:
        second = load_demo(session, settings=get_settings(), out_dir=tmp_path / "b", seed=7)
    assert first.fines_created == NUMBERS
    assert second.fines_created == []
    with Session(demo_engine) as session:
        assert sorted(decisions(session)) == NUMBERS
