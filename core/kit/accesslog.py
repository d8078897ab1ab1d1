"""Access log for the ASGI apps: method, path, status and duration — never the query string or
body, which can carry personal data (coordinates, phone numbers, codes)."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("zhcg.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            path = scope.get("root_path", "") + scope.get("path", "")
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", scope.get("method", "-"), path, status["code"], elapsed_ms)
