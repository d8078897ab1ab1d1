"""Access log for the ASGI apps: method, path, status and duration — never the query string or
body, which can carry personal data (coordinates, phone numbers, codes).

The same middleware gives each request its id (``core.kit.request_id``: the caller's safe
``X-Request-Id`` or a new one, echoed in the response) and observes the request latency histogram
(``core.metrics``) by route template. When an app is mounted in another (``zhcg serve`` mounts the
console at /admin) only the outermost middleware acts, so nothing is logged or counted twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.kit.request_id import HEADER, accept_or_new, reset_request_id, set_request_id
from core.metrics import observe_request

log = logging.getLogger("zhcg.access")

_SEEN = "zhcg.access"  # scope key: an outer access log middleware already handles this request


def route_template(scope: Scope) -> str | None:
    """The template of the route that handled the request (after it ran), with the mount prefix;
    None when no route matched."""
    route = scope.get("route")
    if route is None:
        return None
    prefix = scope.get("root_path", "")
    if isinstance(route, Mount):  # static files and other mounted apps without routes of their own
        return f"{prefix}/{{path}}"
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return f"{prefix}{template}" if isinstance(template, str) else None


def _request_id_header(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers") or []:
        if name == b"x-request-id":
            return bytes(value)
    return None


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(_SEEN):
            await self.app(scope, receive, send)
            return
        scope[_SEEN] = True
        started = time.perf_counter()
        root = scope.get("root_path", "")
        raw_path = scope.get("path", "")
        path = raw_path if raw_path.startswith(root) else root + raw_path
        method = scope.get("method", "-")
        request_id = accept_or_new(_request_id_header(scope))
        token = set_request_id(request_id)
        status: dict[str, Any] = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, send_and_record)
            failed = False
        finally:
            elapsed = time.perf_counter() - started
            observe_request(method, route_template(scope), status["code"], elapsed)
            log.info("%s %s %s %.1fms", method, path, status["code"], elapsed * 1000)
            if not failed:
                # After an unexpected exception the id stays set in this request's task, so the
                # server's traceback of it carries the id as well.
                reset_request_id(token)
