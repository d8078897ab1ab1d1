"""Typed dependencies of the staff console: the unit of work, who is signed in, and role checks.

A page that needs a signed-in user declares ``StaffDep`` (or ``require(...)``); when the cookie is
missing or its session ended, the user is sent to the sign-in page (htmx requests get an
``HX-Redirect``), and an account that must change its password is sent to the password page first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from admin.security import SESSION_COOKIE, csrf_for_session
from core.db import session_scope
from core.errors import Forbidden
from core.models import StaffRole, StaffUser
from core.settings import Settings
from core.staff import sessions
from core.staff.sessions import ActiveSession


def get_session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with session_scope(engine) as session:
        yield session


# scope="function": the unit of work ends (commits) before the response is sent, so a failed commit
# is the client's error answer and not a 200 followed by a lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in account as the page frame (navigation, name, role) needs it."""

    id: int
    username: str
    display_name: str
    role: StaffRole


class NotSignedIn(Exception):
    """Answered by a redirect to the sign-in page (see ``admin.main``)."""


class MustChangePassword(Exception):
    """Answered by a redirect to the password page."""


PASSWORD_PATHS = frozenset({"/password", "/logout"})


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def get_console(request: Request, session: SessionDep, settings: SettingsDep) -> ActiveSession:
    token = request.cookies.get(SESSION_COOKIE, "")
    console = sessions.active(session, settings, token)
    if console is None:
        raise NotSignedIn()
    # What the page frame shows, copied now: an error page is rendered after the unit of work ended
    # (rolled back and closed), when the ORM object can no longer load its attributes.
    request.state.user = ConsoleUser(
        id=console.user.id or 0,
        username=console.user.username,
        display_name=console.user.display_name,
        role=console.user.role,
    )
    request.state.csrf_token = csrf_for_session(settings, token)
    if (
        console.user.must_change_password
        and request.url.path.removeprefix(request.scope.get("root_path", "")) not in PASSWORD_PATHS
    ):
        raise MustChangePassword()
    return console


ConsoleDep = Annotated[ActiveSession, Depends(get_console)]


def get_staff(console: ConsoleDep) -> StaffUser:
    return console.user


StaffDep = Annotated[StaffUser, Depends(get_staff)]


def require(*roles: StaffRole) -> Callable[[StaffUser], StaffUser]:
    """A dependency admitting only these roles (403 page otherwise)."""
    allowed = frozenset(roles)

    def check(user: StaffDep) -> StaffUser:
        if user.role not in allowed:
            raise Forbidden("role_forbidden", "您的角色无权访问该页面")
        return user

    return check


AdminDep = Annotated[StaffUser, Depends(require(StaffRole.ADMIN))]
