"""PostgreSQL goes away and comes back: the API answers a clear 503 meanwhile and serves again once the
database is back, without being restarted.

The database is a private cluster (``_procs.PrivatePostgres``) so that stopping it disturbs nobody; the
API is a real uvicorn process configured through its environment. Which database errors are "the
database is unavailable" (and which stay bugs) is checked in-process, on both backends.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError

from api.main import create_app
from core.db import build_engine, is_unavailable, session_scope
from core.migrate import upgrade
from core.settings import get_settings
from tests.conftest import TEST_BACKEND, TMP_ROOT
from tests.failure._procs import ApiServer, PrivatePostgres, private_postgres, wait_until
from tests.fixtures.cases import build_city
from tests.fixtures.factories import Factory

pg_only = pytest.mark.skipif(
    TEST_BACKEND != "postgresql", reason="stops and restarts a PostgreSQL server (a private cluster)"
)

HTTP_TIMEOUT_S = 15.0
MINE = "/api/v1/reports/mine"


@dataclass
class Site:
    pg: PrivatePostgres
    api: ApiServer
    http: httpx.Client
    headers: dict[str, str]
    point: tuple[float, float]

    def mine(self) -> httpx.Response:
        return self.http.get(MINE, headers=self.headers)

    def report(self, key: str) -> httpx.Response:
        lng, lat = self.point
        body: dict[str, Any] = {
            "category": "SJ0102",
            "description": "路边垃圾堆积多日",
            "lng": lng,
            "lat": lat,
            "coord": "wgs84",
        }
        return self.http.post("/api/v1/reports", json=body, headers={**self.headers, "Idempotency-Key": key})


@pytest.fixture
def site() -> Iterator[Site]:
    root = TMP_ROOT / f"pg-restart-{secrets.token_hex(3)}"
    with private_postgres(root / "pg") as pg:
        url = pg.create_database("zhcg")
        engine = build_engine(url)
        try:
            upgrade(engine)
            with session_scope(engine) as session:
                city = build_city(session, Factory(session))
                headers = city.headers(city.citizen())
                point = city.point()
        finally:
            engine.dispose()
        api = ApiServer(db_url=url, photo_dir=root / "photos", log_path=root / "api.log")
        with api, httpx.Client(base_url=api.base, timeout=HTTP_TIMEOUT_S) as http:
            api.wait_ready()
            yield Site(pg, api, http, headers, point)


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": "database_unavailable", "message": "数据库暂时不可用，请稍后再试"}
    assert response.headers["retry-after"] == "5"


def ready(site: Site) -> bool:
    return site.http.get("/readyz").status_code == 200


@pg_only
def test_an_outage_is_answered_503_and_the_api_serves_again_when_the_database_is_back(site: Site) -> None:
    assert site.mine().status_code == 200
    assert site.report("before-outage-1").status_code == 201

    site.pg.stop("fast")  # every open connection of the API is closed by the server
    # More requests than the pool holds: the first meet its lost connections, the rest cannot connect.
    for _ in range(8):
        assert_database_unavailable(site.mine())
    assert_database_unavailable(site.report("during-outage-1"))
    readiness = site.http.get("/readyz")
    assert readiness.status_code == 503
    assert readiness.json()["code"] == "not_ready"
    assert readiness.json()["checks"]["database"] == "error: unavailable"
    assert site.http.get("/healthz").status_code == 200  # the process itself is fine: do not restart it

    site.pg.start()
    wait_until(lambda: ready(site), timeout=30, what="/readyz after the database came back", interval=0.2)
    assert site.mine().status_code == 200
    # The client retries its refused report with the same key: filed once.
    assert site.report("during-outage-1").status_code == 201
    assert site.report("during-outage-1").status_code == 200
    assert site.mine().json()["total"] == 2
    log = site.api.log()
    assert "Traceback" not in log
    assert "database unavailable" in log  # one warning line per refused request, for the operator


@pg_only
def test_a_restart_nobody_saw_costs_at_most_one_answer(site: Site) -> None:
    """The API's pooled connections die with a crash and restart it did not witness: the first request
    meets a lost connection (503, and the whole pool is dropped); the next ones connect afresh."""
    assert site.report("before-restart-1").status_code == 201
    site.pg.restart("immediate")  # a crash: no goodbye to the clients, recovery on start

    first = site.mine()
    if first.status_code != 200:
        assert_database_unavailable(first)
    for _ in range(5):
        assert site.mine().status_code == 200
    assert site.report("after-restart-1").status_code == 201

    site.pg.restart("immediate")
    # Readiness does not report a database that is back as down because of a connection from before.
    assert site.http.get("/readyz").json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }
    assert site.mine().json()["total"] == 2
    assert "Traceback" not in site.api.log()


class DriverError(Exception):
    """Stands for the driver's exception that SQLAlchemy wraps."""


def test_only_an_unreachable_database_is_answered_503() -> None:
    """Connecting failed (no statement) or a lost connection: 503. A database error in a statement that
    reached the database (a constraint, a lock) is a bug or has its own handling: it stays a 500."""
    refused = OperationalError(None, None, DriverError("connection refused"))
    lost = OperationalError(
        "SELECT 1", {}, DriverError("server closed the connection"), connection_invalidated=True
    )
    locked = OperationalError("UPDATE citizen SET name=?", {}, DriverError("database is locked"))
    duplicate = IntegrityError("INSERT INTO citizen", {}, DriverError("duplicate key"))
    assert [is_unavailable(exc) for exc in (refused, lost, locked, duplicate)] == [True, True, False, False]

    app = create_app(get_settings())
    errors = {"refused": refused, "lost": lost, "locked": locked, "duplicate": duplicate}

    @app.get("/failing/{name}")
    def failing(name: str) -> None:
        raise errors[name]

    with TestClient(app, raise_server_exceptions=False) as client:
        assert_database_unavailable(client.get("/failing/refused"))
        assert_database_unavailable(client.get("/failing/lost"))
        for name in ("locked", "duplicate"):
            response = client.get(f"/failing/{name}")
            assert response.status_code == 500
            assert response.json()["code"] == "internal_error"
