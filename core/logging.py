"""Process logging set-up (one format for every entry point; no PII is ever logged).

Every record carries ``request_id`` (``core.kit.request_id``; ``None`` outside a request or job).
Two formats (``ZHCG_APP__LOG_FORMAT``, docs/operations.md):

- ``text``: ``2026-11-21 18:44:46,123 INFO zhcg.access [3f2a…] GET /healthz 200 0.4ms``
- ``json``: one object per line: ``ts`` (ISO 8601 with the offset of ``ZHCG_APP__TIMEZONE``),
  ``level``, ``logger``, ``message``, ``request_id``, and ``exc`` / ``stack`` when present.

``auto`` (the default) is json in production and text elsewhere. Personal data is kept out of log
messages where they are written (masked phones, no query strings or bodies): a formatter cannot
tell a phone number from an order number.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.kit.request_id import current_request_id
from core.settings import Environment, Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "requests")
# uvicorn's own loggers (start-up, the traceback of an unexpected exception) log through ours in json
# mode, so a log shipper gets one format. Its access log stays off (`zhcg serve`): it prints query strings.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error")

_HANDLER_MARK = "_zhcg_handler"
_FACTORY_MARK = "_zhcg_request_id"


def log_format(settings: Settings) -> str:
    """``json`` or ``text`` for these settings (``auto`` is json in production)."""
    chosen = settings.app.log_format
    if chosen == "auto":
        return "json" if settings.environment is Environment.PRODUCTION else "text"
    return chosen


class JsonFormatter(logging.Formatter):
    """One JSON object per line; non-ASCII (Chinese messages) is written as is."""

    def __init__(self, timezone: ZoneInfo) -> None:
        super().__init__()
        self.timezone = timezone

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, self.timezone).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
            try:
                return super().format(record)
            finally:
                record.request_id = None
        return super().format(record)


def build_formatter(settings: Settings) -> logging.Formatter:
    if log_format(settings) == "json":
        return JsonFormatter(ZoneInfo(settings.app.timezone))
    return TextFormatter()


def install_request_id_factory() -> None:
    """Every record created from now on carries the current request id (idempotent)."""
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(previous, _FACTORY_MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    setattr(factory, _FACTORY_MARK, True)
    logging.setLogRecordFactory(factory)


def configure_logging(settings: Settings) -> None:
    install_request_id_factory()
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, _HANDLER_MARK, False)]
    if not ours and not root.handlers:
        # Otherwise a test runner or an embedding program keeps the handlers it set up.
        stream = logging.StreamHandler(sys.stderr)
        setattr(stream, _HANDLER_MARK, True)
        root.addHandler(stream)
        root.setLevel(settings.app.log_level)
        ours = [stream]
    for handler in ours:  # also when configured again (another app in this process, other settings)
        handler.setFormatter(build_formatter(settings))
    logging.getLogger("zhcg").setLevel(settings.app.log_level)
    if ours and log_format(settings) == "json":
        for name in SERVER_LOGGERS:
            server_logger = logging.getLogger(name)
            server_logger.handlers.clear()
            server_logger.propagate = True
    # HTTP client libraries log every request URL at INFO; some carry tokens (a bill's download URL)
    # or personal data in query strings. Their warnings and errors still come through.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
