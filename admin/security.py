"""Cookies, CSRF and response headers of the console.

- The session cookie (``zhcg_console``) is HttpOnly, SameSite=Lax, Secure in production, scoped to the
  console's path.
- CSRF: every unsafe request (POST, PUT, PATCH, DELETE) must carry the token in the form field
  ``csrf_token`` or the header ``X-CSRF-Token`` (htmx requests; ``console.js`` adds it). A signed-in
  session's token is an HMAC of its cookie token with the app secret, so it needs no storage and
  changes with every sign-in. The sign-in form, which has no session yet, uses a double-submit cookie.
- Pages are not cached and may not be framed; scripts and styles come only from the console itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import Response

from core.errors import Forbidden
from core.settings import Environment, Settings

SESSION_COOKIE = "zhcg_console"
LOGIN_CSRF_COOKIE = "zhcg_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRejected(Forbidden):
    def __init__(self) -> None:
        super().__init__("csrf_failed", "页面已过期或来源不明，请刷新页面后重试")


def csrf_for_session(settings: Settings, session_token: str) -> str:
    key = settings.app.secret_key.get_secret_value().encode()
    return hmac.new(key, f"console-csrf:{session_token}".encode(), hashlib.sha256).hexdigest()[:40]


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def cookie_path(request: Request) -> str:
    return (request.scope.get("root_path") or "") + "/"


def secure_cookies(settings: Settings) -> bool:
    return settings.environment is Environment.PRODUCTION


def set_session_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.auth.console_session_max_s,
        path=cookie_path(request),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=cookie_path(request),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def set_login_csrf_cookie(response: Response, request: Request, settings: Settings, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        path=cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings),
    )


async def submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: refuses an unsafe request without the right token (403 page)."""
    if request.method not in UNSAFE_METHODS:
        return
    settings: Settings = request.app.state.settings
    submitted = await submitted_csrf(request)
    session_token = request.cookies.get(SESSION_COOKIE, "")
    expected = [csrf_for_session(settings, session_token)] if session_token else []
    login_cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if login_cookie:
        expected.append(login_cookie)
    if not submitted or not any(hmac.compare_digest(submitted, value) for value in expected):
        raise CsrfRejected()


def tile_source(tile_url: str) -> str:
    """The CSP source of the map tiles: ``https://t{s}.example.cn/...`` → ``https://*.example.cn``."""
    parts = urlsplit(tile_url.replace("{s}", "x"))
    if not (parts.scheme and parts.netloc):
        return ""
    host = parts.netloc
    if "{s}" in urlsplit(tile_url).netloc and "." in host:
        host = "*." + host.split(".", 1)[1]
    return f"{parts.scheme}://{host}"


def content_security_policy(settings: Settings) -> str:
    images = " ".join(filter(None, ["'self' data: blob:", tile_source(settings.console.map_tile_url)]))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeadersMiddleware:
    """Pure ASGI (no response buffering): adds the headers to every HTTP response of the console."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(settings).encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = "/static/" in scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                # Pages are not stored; a response that chose its own policy (e.g. grid data with an
                # ETag: "private, no-cache") keeps it.
                if not is_static and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
