"""A console client whose requests run inside the test's rolled-back transaction, and signing in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from admin.deps import get_session
from admin.main import create_app
from core.models import StaffUser
from core.settings import Settings, get_settings
from tests.fixtures.cases import PASSWORD

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def console_for(session: Session, settings: Settings) -> TestClient:
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        yield session
        session.flush()

    app.dependency_overrides[get_session] = _session
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def console(session: Session) -> Iterator[TestClient]:
    with console_for(session, get_settings()) as client:
        yield client


def login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    token = client.cookies.get("zhcg_login_csrf")
    assert token
    return token


def sign_in(client: TestClient, user: StaffUser | str, password: str = PASSWORD) -> str:
    """Sign in through the form; the CSRF token of the new session (from the page's meta tag)."""
    username = user if isinstance(user, str) else user.username
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": login_csrf(client)}
    )
    assert answer.status_code == 303, answer.text
    return page_csrf(client)


def page_csrf(client: TestClient, path: str = "/password") -> str:
    page = client.get(path)
    match = CSRF_META.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


SignIn = Callable[[TestClient, StaffUser], str]
