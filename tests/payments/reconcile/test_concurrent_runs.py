"""Two reconciliations of one day at once (a manual re-run racing the hourly job) store one run, never
two and never a half-written one: the second waits on the unique (channel, bill_date), then takes the
first's run and replaces its items. PostgreSQL only: SQLite serialises writers by locking the file."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from core.db import session_scope
from core.kit.clock import utcnow
from core.models import MismatchKind, PaymentChannel, ReconciliationItem, ReconciliationRun
from payments.reconcile import service
from payments.reconcile.lines import BillKind, BillLine
from tests.payments.reconcile.books import Committed

pytestmark = pytest.mark.skipif(
    os.environ.get("ZHCG_TEST_DB", "sqlite") != "postgresql", reason="row locks and unique waits: PostgreSQL"
)

WECHAT = PaymentChannel.WECHAT


def waiting_on_a_lock(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def reconcile_in_own_transaction(engine: Engine, committed: Committed, lines: list[BillLine]) -> int:
    with session_scope(engine) as session:
        run = service.reconcile(
            session, channel=WECHAT, bill_date=committed.unused_day(), bill_lines=lines, now=utcnow()
        )
        assert run.id is not None
        return run.id


def test_a_run_created_concurrently_is_taken_over(engine: Engine, committed: Committed) -> None:
    day = committed.unused_day()
    committed.days.add((WECHAT, day))
    stray = BillLine(BillKind.PAYMENT, f"{committed.prefix}STRAY", "4200000000000000000000000009", 100)
    first = Session(engine, expire_on_commit=False)
    try:
        first_run = service.reconcile(first, channel=WECHAT, bill_date=day, bill_lines=[stray], now=utcnow())
        with ThreadPoolExecutor(max_workers=1) as pool:
            second = pool.submit(reconcile_in_own_transaction, engine, committed, [])
            deadline = time.monotonic() + 60
            while waiting_on_a_lock(engine) == 0:  # the second insert waits on the first's row
                assert not second.done(), second.result()
                assert time.monotonic() < deadline, "the second reconciliation never waited"
                time.sleep(0.05)
            first.commit()
            second_id = second.result(timeout=60)
    finally:
        first.close()
    assert second_id == first_run.id
    run, items = committed.run(WECHAT, day)
    assert (run.bill_count, run.mismatch_count, items) == (0, 0, [])  # the second one's result


def test_the_first_runs_items_are_never_mixed_with_the_seconds(engine: Engine, committed: Committed) -> None:
    day = committed.unused_day()
    committed.days.add((WECHAT, day))
    lines = [
        BillLine(BillKind.PAYMENT, f"{committed.prefix}S{i}", f"42000000000000000000000000{i:02d}", 100)
        for i in range(5)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(
            pool.map(lambda n: reconcile_in_own_transaction(engine, committed, lines[:n]), [5, 3, 5, 3])
        )
    assert len(set(ids)) == 1
    with session_scope(engine) as session:
        runs = session.exec(
            select(ReconciliationRun).where(
                col(ReconciliationRun.channel) == WECHAT, col(ReconciliationRun.bill_date) == day
            )
        ).all()
        assert len(runs) == 1
        items = session.exec(
            select(ReconciliationItem).where(col(ReconciliationItem.run_id) == runs[0].id)
        ).all()
        assert {item.kind for item in items} == {MismatchKind.MISSING_LOCALLY}
        assert len(items) == runs[0].mismatch_count == runs[0].bill_count  # one whole run's result: 3 or 5
