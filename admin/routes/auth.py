"""Signing in and out of the console, and changing one's password."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from admin.deps import ConsoleDep, SessionDep, SettingsDep, client_ip
from admin.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_session_cookie,
    new_login_csrf,
    set_login_csrf_cookie,
    set_session_cookie,
)
from admin.templating import render
from core.audit import service as audit
from core.errors import DomainError, RateLimited
from core.staff import service as staff_service
from core.staff import sessions
from core.staff.auth import CredentialsRejected, check_credentials

router = APIRouter()


def _safe_next(request: Request, target: str) -> str:
    """Only a path inside the console: never an absolute URL (open redirect)."""
    root = request.scope.get("root_path", "")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(f"{root}/") or target.startswith("//"):
        return f"{root}/"
    return target


def _login_page(
    request: Request,
    settings: SettingsDep,
    *,
    error: str = "",
    username: str = "",
    next_url: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = render(
        request,
        "login.html",
        {"error": error, "username": username, "next": next_url, "login_csrf": token},
        status_code=status_code,
    )
    set_login_csrf_cookie(response, request, settings, token)
    return response


@router.get("/login", response_class=HTMLResponse, name="login")
def login_form(request: Request, settings: SettingsDep, session: SessionDep, next: str = "") -> Response:
    if sessions.active(session, settings, request.cookies.get(SESSION_COOKIE, "")) is not None:
        return RedirectResponse(_safe_next(request, next), status_code=303)
    return _login_page(request, settings, next_url=next)


@router.post("/login", name="login_submit")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    ip = client_ip(request)
    if not username.strip() or not password:
        return _login_page(
            request, settings, error="请输入用户名和密码", username=username, next_url=next, status_code=422
        )
    try:
        user = check_credentials(
            session, settings=settings, username=username, password=password, client_ip=ip
        )
    except CredentialsRejected as exc:
        audit.record(session, actor=None, action="login_failed", username=username.strip(), client_ip=ip)
        return _login_page(
            request, settings, error=exc.message, username=username, next_url=next, status_code=401
        )
    except RateLimited as exc:
        return _login_page(
            request, settings, error=exc.message, username=username, next_url=next, status_code=429
        )
    opened = sessions.open_session(
        session, settings, user, client_ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    audit.record(session, actor=user, action="login", target_kind="staff", target_id=user.id, client_ip=ip)
    root = request.scope.get("root_path", "")
    target = f"{root}/password" if user.must_change_password else _safe_next(request, next)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, settings, opened.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{root}/")
    return response


@router.post("/logout", name="logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep, console: ConsoleDep) -> Response:
    sessions.revoke(session, console.row)
    audit.record(session, actor=console.user, action="logout", client_ip=client_ip(request))
    response = RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)
    clear_session_cookie(response, request, settings)
    return response


@router.get("/password", response_class=HTMLResponse, name="password")
def password_form(request: Request, console: ConsoleDep) -> HTMLResponse:
    return render(request, "password.html", {"forced": console.user.must_change_password})


@router.post("/password", name="password_submit")
def change_password(
    request: Request,
    session: SessionDep,
    console: ConsoleDep,
    current: Annotated[str, Form(max_length=128)] = "",
    new: Annotated[str, Form(max_length=128)] = "",
    confirm: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    user = console.user
    context = {"forced": user.must_change_password}
    if new != confirm:
        return render(
            request, "password.html", {**context, "error": "两次输入的新密码不一致"}, status_code=422
        )
    try:
        staff_service.change_password(session, user, current=current, new=new)
    except DomainError as exc:
        return render(request, "password.html", {**context, "error": exc.message}, status_code=422)
    assert user.id is not None
    others = sessions.revoke_all(session, user.id, except_id=console.row.id)
    audit.record(
        session,
        actor=user,
        action="password_changed",
        target_kind="staff",
        target_id=user.id,
        detail={"other_sessions_ended": others},
        client_ip=client_ip(request),
    )
    return render(request, "password.html", {"forced": False, "done": True})
