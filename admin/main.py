"""The staff console (its own ASGI app, mounted at /admin by ``zhcg serve``).

This first page shows the state of the master data and the calendar warnings; the case workflow
screens come with the console issue.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from admin.deps import SessionDep
from core.calendar.service import warnings_for
from core.jobs import configure_jobs
from core.kit.accesslog import AccessLogMiddleware
from core.kit.clock import to_local, utcnow
from core.logging import configure_logging
from core.masterdata.overview import master_data_counts
from core.settings import Settings, get_settings

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


ERROR_PAGES = {404: "页面不存在", 405: "不支持该操作", 403: "没有权限访问该页面", 401: "请先登录"}


async def http_error_page(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = ERROR_PAGES.get(exc.status_code, "请求无法处理")
    return TEMPLATES.TemplateResponse(
        request, "error.html", {"title": "智慧城管 管理后台", "message": message}, status_code=exc.status_code
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    configure_jobs(settings)
    app = FastAPI(title="智慧城管 管理后台", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    from core.db import get_engine

    app.state.engine = get_engine(settings)
    app.add_middleware(AccessLogMiddleware)
    app.add_exception_handler(StarletteHTTPException, http_error_page)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, session: SessionDep) -> HTMLResponse:
        today = to_local(utcnow()).date()
        return TEMPLATES.TemplateResponse(
            request,
            "home.html",
            {
                "title": settings.app.name,
                "counts": master_data_counts(session),
                "calendar_warnings": warnings_for(session, today=today, settings=settings),
            },
        )

    return app
