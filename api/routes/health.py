"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from api.deps import SettingsDep
from core.db import is_unavailable
from core.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="进程存活")
@router.head("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="依赖就绪（数据库结构、Redis）")
@router.head("/readyz", include_in_schema=False)
def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    checks: dict[str, str] = {}
    engine: Engine = request.app.state.engine
    try:
        checks |= database_checks(engine)
    except DBAPIError as exc:
        checks["database"] = "error: unavailable" if is_unavailable(exc) else f"error: {type(exc).__name__}"
    except (SQLAlchemyError, OSError) as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.redis.url:
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            Redis.from_url(settings.redis.url, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except RedisError as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    if not ready:
        body |= {"code": "not_ready", "message": "依赖服务不可用"}
    return JSONResponse(body, status_code=200 if ready else 503)


def database_checks(engine: Engine) -> dict[str, str]:
    """Reachable and migrated. A connection the pool kept from before a database restart fails once
    (SQLAlchemy then invalidates the pool): asked again on a fresh one, so that a database that is back
    is not reported down."""
    try:
        return _database_checks(engine)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return _database_checks(engine)


def _database_checks(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        current, head = current_revision(connection), head_revision()
    migrations = "ok" if current == head else f"pending: {current or 'empty'} → {head}"
    return {"database": "ok", "migrations": migrations}
