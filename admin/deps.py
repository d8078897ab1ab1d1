"""Typed dependencies of the staff console (staff auth and CSRF come with the console issue)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from core.db import session_scope


def get_session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with session_scope(engine) as session:
        yield session


# scope="function": the unit of work ends (commits) before the response is sent, so a failed commit
# is the client's error answer and not a 200 followed by a lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
