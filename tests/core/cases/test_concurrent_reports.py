"""The same report sent twice at once with one idempotency key (a client retrying before the first answer
arrived) files one case, and both requests answer with it. Real transactions on their own PostgreSQL
database (committed data), one thread each. SQLite has a single writer: nothing to race there."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from core.cases import intake
from core.db import build_engine
from core.migrate import upgrade
from core.models import Case, Citizen
from core.settings import get_settings
from tests.conftest import TEST_BACKEND, database_url, drop_database
from tests.fixtures.cases import build_city
from tests.fixtures.factories import Factory

pytestmark = pytest.mark.skipif(TEST_BACKEND != "postgresql", reason="a race needs concurrent writers")

KEY = "same-key-0001"


@pytest.fixture
def committed() -> Iterator[tuple[sa.Engine, int, intake.ReportInput]]:
    url = database_url("reports")
    engine = build_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        city = build_city(session, Factory(session))
        citizen = city.citizen()
        lng, lat = city.point()
        data = intake.ReportInput(category_code="SJ0102", description="路边垃圾堆积多日", lng=lng, lat=lat)
        session.commit()
        assert citizen.id is not None
        citizen_id = citizen.id
    yield engine, citizen_id, data
    engine.dispose()
    drop_database(url)


def test_one_key_sent_twice_at_once_files_one_case(
    committed: tuple[sa.Engine, int, intake.ReportInput],
) -> None:
    engine, citizen_id, data = committed
    first_inserted = threading.Event()
    second_started = threading.Event()
    answers: dict[str, tuple[int | None, bool]] = {}
    failures: list[BaseException] = []

    def send(name: str) -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                citizen = session.get(Citizen, citizen_id)
                assert citizen is not None
                if name == "second":
                    first_inserted.wait(30)
                    second_started.set()
                filed = intake.file_report_by_citizen(
                    session, get_settings(), citizen=citizen, data=data, idempotency_key=KEY
                )
                if name == "first":
                    # Still uncommitted: the second request does not see this case yet and inserts too,
                    # then waits on the key's unique index until this transaction ends.
                    first_inserted.set()
                    second_started.wait(30)
                    threading.Event().wait(0.3)
                session.commit()
                answers[name] = (filed.case.id, filed.created)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            first_inserted.set()
            second_started.set()

    threads = [threading.Thread(target=send, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert answers["first"][1] is True
    assert answers["second"] == (answers["first"][0], False)
    with Session(engine) as session:
        count = session.exec(select(func.count()).where(col(Case.idempotency_key) == KEY)).one()
    assert count == 1
