"""Per-client rate limits of the public endpoints (docs/operations.md "Rate limits").

A pure ASGI middleware on the API app, so a refused request costs no database session, body parsing or
thread: it is answered before routing. Counting is ``core.kit.ratelimit`` (Redis when configured,
process memory otherwise; Redis trouble lets requests through).

What is limited, by group (``ZHCG_RATELIMIT__*_PER_MINUTE``):

- ``login``: POST under ``/api/v1/auth/`` (SMS codes, logins), ``/api/v1/staff/auth/login`` and the
  console's ``/admin/login`` (when the console is mounted on this app, as ``zhcg serve`` does);
- ``write``: every other POST / PUT / PATCH / DELETE under ``/api/v1/`` and ``/open311/v2/``;
- ``read``: GET / HEAD / OPTIONS there.

Not limited: the payment and refund notifications of WeChat Pay / Alipay (``/api/v1/payments/notify/``)
and the signed 12345 exchange (``/api/v1/exchange/``) — the providers retry, and a refusal would only
delay money or orders —, probes, ``/metrics``, the OpenAPI pages and the console's other pages and files.

Who the client is: the account of a valid bearer token (checked by its signature, no query); else a
known Open311 ``api_key`` (form field of ``POST /open311/v2/requests``) or parking operator key
(``X-Api-Key`` of availability pushes), known once the endpoint accepted it (``KnownKeys``); else the
address (``core.kit.ratelimit.client_address``: X-Forwarded-For only from trusted proxies).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from api.routes.open311 import error_response as open311_error_response
from core.auth.tokens import read_token
from core.kit.ratelimit import (
    Counter,
    Decision,
    KnownKeys,
    MemoryCounter,
    RedisCounter,
    client_address,
)
from core.metrics import count_rate_limited
from core.settings import Settings

WINDOW_S = 60
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LIMITED_PREFIXES = ("/api/v1/", "/open311/v2/")
EXEMPT_PREFIXES = ("/api/v1/payments/notify/", "/api/v1/exchange/")
LOGIN_PREFIXES = ("/api/v1/auth/",)
LOGIN_PATHS = frozenset({"/api/v1/staff/auth/login", "/admin/login"})
OPEN311_PREFIX = "/open311/v2/"
OPEN311_POST = re.compile(r"^/open311/v2/requests\.(json|xml)$")
OPEN311_FORMAT = re.compile(r"\.(json|xml)$")
OPERATOR_PUSH = re.compile(r"^/api/v1/places/[^/]+/availability$")
MAX_FORM_BYTES = 64 * 1024  # the Open311 route refuses larger bodies anyway
CODE = "rate_limited"


def message(retry_after: int) -> str:
    return f"请求过于频繁，请 {retry_after} 秒后再试"


def classify(method: str, path: str) -> str | None:
    """The limit group of a request, or None when it is not limited."""
    if path.startswith(EXEMPT_PREFIXES):
        return None
    if method == "POST" and (path in LOGIN_PATHS or path.startswith(LOGIN_PREFIXES)):
        return "login"
    if not path.startswith(LIMITED_PREFIXES):
        return None
    return "read" if method in SAFE_METHODS else "write"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    kind: str  # "open311" | "operator"
    digest: str


def bearer_client(headers: Headers, secret: str) -> str | None:
    """``citizen:<id>`` / ``staff:<id>`` for a valid, unexpired bearer token (signature only)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    claims = read_token(secret, token.strip(), now=int(time.time()))
    return f"{claims.kind.value}:{claims.subject_id}" if claims is not None else None


async def buffered_form_key(receive: Receive) -> tuple[list[Message], str | None]:
    """Reads a form body (at most ``MAX_FORM_BYTES``) for its ``api_key``; the messages read are
    replayed to the app, so the route still reads the body itself."""
    messages: list[Message] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return messages, None
        if not message.get("more_body", False):
            break
    try:
        pairs = parse_qsl(bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        return messages, None
    key = next((value.strip() for name, value in pairs if name == "api_key"), "")
    return messages, key or None


def replay(messages: list[Message], receive: Receive) -> Receive:
    pending = deque(messages)

    async def replayed() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replayed


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        counter: Counter | None = None,
        keys: KnownKeys | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.limits = {
            "read": settings.ratelimit.reads_per_minute,
            "write": settings.ratelimit.writes_per_minute,
            "login": settings.ratelimit.logins_per_minute,
        }
        self.trusted = settings.ratelimit.trusted_networks
        self.secret = settings.app.secret_key.get_secret_value()
        self.counter: Counter = counter or counter_for(settings)
        self.keys = keys or KnownKeys()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        group = classify(method, path)
        if group is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        api_key: ApiKey | None = None
        client = bearer_client(headers, self.secret)
        if client is None:
            api_key, receive = await self._api_key(method, path, headers, receive)
            if api_key is not None and self.keys.known(api_key.kind, api_key.digest):
                client = f"{api_key.kind}:{api_key.digest}"
        if client is None:
            peer = scope.get("client")
            client = client_address(peer[0] if peer else None, headers.get("x-forwarded-for"), self.trusted)
        decision = await self.counter.hit(group, client, limit=self.limits[group], window_s=WINDOW_S)
        if decision is not None and not decision.allowed:
            count_rate_limited(group)
            await self._refuse(scope, path, decision)(scope, receive, send)
            return
        await self.app(scope, receive, self._sending(send, decision, api_key))

    async def _api_key(
        self, method: str, path: str, headers: Headers, receive: Receive
    ) -> tuple[ApiKey | None, Receive]:
        if method == "PUT" and OPERATOR_PUSH.match(path):
            key = headers.get("x-api-key", "").strip()
            return (ApiKey("operator", key_hash(key)) if key else None), receive
        if method == "POST" and OPEN311_POST.match(path):
            content_type = headers.get("content-type", "").lower()
            declared = headers.get("content-length", "")
            if content_type.startswith("application/x-www-form-urlencoded") and (
                declared.isdigit() and int(declared) <= MAX_FORM_BYTES
            ):
                messages, form_key = await buffered_form_key(receive)
                found = ApiKey("open311", key_hash(form_key)) if form_key else None
                return found, replay(messages, receive)
        return None, receive

    def _sending(
        self, send: Send, decision: Decision | None, api_key: ApiKey | None
    ) -> Callable[[Message], Awaitable[None]]:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                if decision is not None:
                    rate_headers(MutableHeaders(scope=message), decision)
                if api_key is not None:
                    status = int(message["status"])
                    if 200 <= status < 300:
                        self.keys.learn(api_key.kind, api_key.digest)
                    elif status in (401, 403):
                        self.keys.forget(api_key.kind, api_key.digest)
            await send(message)

        return sending

    def _refuse(self, scope: Scope, path: str, decision: Decision) -> Response:
        retry_after = decision.retry_after_s
        response: Response
        if path.startswith(OPEN311_PREFIX):
            found = OPEN311_FORMAT.search(path)
            request = Request({**scope, "path_params": {"fmt": found.group(1) if found else "json"}})
            response = open311_error_response(request, 429, f"{CODE}: {message(retry_after)}")
        elif path.startswith("/admin/"):
            response = HTMLResponse(refusal_page(retry_after), status_code=429)
        else:
            response = problem(429, CODE, message(retry_after), details={"retry_after": retry_after})
        response.headers["Retry-After"] = str(retry_after)
        rate_headers(response.headers, decision)
        return response


def rate_headers(headers: MutableHeaders, decision: Decision) -> None:
    """``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (IETF draft, the widely read three-header form)."""
    headers["RateLimit-Limit"] = str(decision.limit)
    headers["RateLimit-Remaining"] = str(decision.remaining)
    headers["RateLimit-Reset"] = str(decision.reset_s)


def refusal_page(retry_after: int) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>请求过于频繁</title></head>'
        f"<body><h1>请求过于频繁</h1><p>{message(retry_after)}。</p></body></html>"
    )


def counter_for(settings: Settings) -> Counter:
    """Redis when configured (shared by every API process), else this process's memory."""
    if settings.redis.url:
        return RedisCounter(settings.redis.url, prefix=f"{settings.redis.queue_prefix}:ratelimit")
    return MemoryCounter()
