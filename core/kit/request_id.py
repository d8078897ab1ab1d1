"""The request id: one token per HTTP request (or job), carried by every log line written for it.

A client or the reverse proxy may send ``X-Request-Id``; a safe value (``[A-Za-z0-9._-]{1,64}``) is
kept so one id follows a request through the proxy's and our logs, anything else is replaced by a
new random id. The value lives in a context variable: asyncio tasks and the thread pool that runs
synchronous endpoints copy it, so code deep inside a request reads it without being handed it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

HEADER = "X-Request-Id"
SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")

_current: ContextVar[str | None] = ContextVar("zhcg_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_or_new(value: str | bytes | None) -> str:
    """The caller's id when it is safe to log and echo, else a new one."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value is not None and SAFE.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request (or job) this code runs for; None outside of one."""
    return _current.get()


def set_request_id(value: str | None) -> Token[str | None]:
    return _current.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    _current.reset(token)


@contextmanager
def bound_request_id(value: str | None = None) -> Iterator[str]:
    """Run a block (a job, a CLI command) under ``value`` (kept if safe) or a new id."""
    request_id = accept_or_new(value)
    token = _current.set(request_id)
    try:
        yield request_id
    finally:
        _current.reset(token)
