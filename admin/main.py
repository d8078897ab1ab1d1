"""The staff console: its own ASGI app (Jinja2 + htmx), mounted at /admin by ``zhcg serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from admin.deps import MustChangePassword, NotSignedIn
from admin.errors import error_page
from admin.routes import (
    accounts,
    audit,
    auth,
    cases,
    evaluation,
    fines,
    home,
    hotline,
    map,
    masterdata,
    payments,
    queues,
    replies,
)
from admin.security import SecurityHeadersMiddleware, verify_csrf
from admin.templating import render
from core.errors import DomainError
from core.jobs import configure_jobs
from core.kit.accesslog import AccessLogMiddleware
from core.logging import configure_logging
from core.settings import Settings, get_settings

STATIC = Path(__file__).parent / "static"

ERROR_PAGES = {404: "页面不存在", 405: "不支持该操作", 403: "没有权限访问该页面", 401: "请先登录"}


def _redirect(request: Request, path: str) -> Response:
    root = request.scope.get("root_path", "")
    target = f"{root}{path}"
    if request.headers.get("HX-Request"):
        # htmx follows this with a full page load instead of swapping a login form into a fragment.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def not_signed_in(request: Request, exc: Exception) -> Response:
    if request.headers.get("HX-Request"):
        # A fragment's URL is no page to come back to: the page it was loaded into is.
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        here = current.path + (f"?{current.query}" if current.query else "") if current.path else ""
    elif request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        here = ""
    return _redirect(request, f"/login?next={quote(here)}" if here else "/login")


async def must_change_password(request: Request, exc: Exception) -> Response:
    return _redirect(request, "/password")


async def domain_error_page(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, DomainError)
    return error_page(request, exc)


async def http_error_page(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = ERROR_PAGES.get(exc.status_code, "请求无法处理")
    return render(
        request,
        "error.html",
        {"message": message, "code": f"http_{exc.status_code}"},
        status_code=exc.status_code,
    )


MAX_BODY_BYTES = 25 * 1024 * 1024  # the largest upload (a master data file or photos) plus form fields


class BodyLimitMiddleware:
    """Refuses a request whose declared body is too large before anything parses it (413 page)."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
            if declared.isdigit() and int(declared) > self.max_bytes:
                response = PlainTextResponse("上传的内容太大（最多 25 MB）", status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    configure_jobs(settings)
    app = FastAPI(
        title="智慧城管 管理后台",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.settings = settings
    from core.db import get_engine

    app.state.engine = get_engine(settings)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    app.add_middleware(AccessLogMiddleware)
    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(MustChangePassword, must_change_password)
    app.add_exception_handler(DomainError, domain_error_page)
    app.add_exception_handler(StarletteHTTPException, http_error_page)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    app.include_router(home.router)
    app.include_router(queues.router)
    app.include_router(cases.router)
    app.include_router(replies.router)
    app.include_router(map.router)
    app.include_router(evaluation.router)
    app.include_router(masterdata.router)
    app.include_router(accounts.router)
    app.include_router(audit.router)
    app.include_router(hotline.router)
    app.include_router(fines.router)
    app.include_router(payments.router)
    return app
