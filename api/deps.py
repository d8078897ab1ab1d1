"""Typed dependencies of the public API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from core.auth.service import NotAuthenticated, principal_for
from core.db import session_scope
from core.errors import Forbidden
from core.models import Citizen, StaffUser
from core.settings import Settings


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request is the unit of work: it commits when the endpoint returns without error."""
    engine: Engine = request.app.state.engine
    with session_scope(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
# scope="function": the unit of work ends (commits) before the response is sent, so a failed commit
# is the client's error answer and not a 200 followed by a lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated()
    return token.strip()


def get_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Citizen | StaffUser:
    return principal_for(session, settings, _bearer(request))


PrincipalDep = Annotated[Citizen | StaffUser, Depends(get_principal)]


def get_citizen(principal: PrincipalDep) -> Citizen:
    if not isinstance(principal, Citizen):
        raise Forbidden("citizen_only", "该接口仅供市民使用")
    return principal


def get_staff(principal: PrincipalDep) -> StaffUser:
    if not isinstance(principal, StaffUser):
        raise Forbidden("staff_only", "该接口仅供工作人员使用")
    return principal


CitizenDep = Annotated[Citizen, Depends(get_citizen)]
StaffDep = Annotated[StaffUser, Depends(get_staff)]
