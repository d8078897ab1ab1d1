"""Typed dependencies of the public API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from core.db import session_scope
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
