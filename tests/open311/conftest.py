"""An API client with the Open311 router, and Open311 clients with their API keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from core.models.open311 import Open311Client
from core.open311 import service
from core.settings import get_settings


@contextmanager
def app_client(session: Session) -> Iterator[TestClient]:
    """The API (built with the settings of this moment) whose requests run in the test's transaction."""
    app = create_app(get_settings())

    def _session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    with app_client(session) as test_client:
        yield test_client


@pytest.fixture
def api_client(session: Session) -> tuple[Open311Client, str]:
    """An enabled Open311 client and its plaintext key."""
    return service.add_client(session, name="测试客户端", requests_per_hour=100)


@pytest.fixture
def api_key(api_client: tuple[Open311Client, str]) -> str:
    return api_client[1]


def xml_of(response: Response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


def children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def error_of(response: Response, fmt: str) -> tuple[int, str]:
    """The one Open311 error of a refusal (``[{code, description}]`` / ``<errors><error>``)."""
    if fmt == "xml":
        root = xml_of(response)
        assert root.tag == "errors"
        assert children(root) == ["error"]
        (error,) = root
        assert children(error) == ["code", "description"]
        return int(error.findtext("code") or "0"), error.findtext("description") or ""
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == 1
    assert set(body[0]) == {"code", "description"}
    return int(body[0]["code"]), str(body[0]["description"])
