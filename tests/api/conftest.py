"""An API client whose requests run inside the test's rolled-back transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from core.settings import get_settings


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    app = create_app(get_settings())

    def _session() -> Iterator[Session]:
        # The request's unit of work commits into the test transaction's savepoint.
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
