"""The request is the unit of work: it commits before the response is sent."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.deps import SessionDep
from api.main import create_app
from core.db import get_engine
from core.models import Department, DepartmentKind
from core.settings import get_settings


def test_a_failing_commit_is_not_answered_with_200(engine: object) -> None:
    app = create_app(get_settings())
    code = f"UOW{secrets.token_hex(3)}"

    @app.post("/_test/duplicate")
    def duplicate(session: SessionDep) -> dict[str, bool]:
        # Both rows only reach the database at commit, where the unique code fails.
        session.add(Department(code=code, name="甲", kind=DepartmentKind.OTHER))
        session.add(Department(code=code, name="乙", kind=DepartmentKind.OTHER))
        return {"ok": True}

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/_test/duplicate")
    assert response.status_code == 500
    assert response.json() == {"code": "internal_error", "message": "服务器内部错误，请稍后再试"}
    with Session(get_engine()) as session:
        assert session.exec(select(Department).where(col(Department.code) == code)).all() == []
