"""One error type for the whole domain.

A ``DomainError`` carries a stable machine ``code`` (snake_case, part of the public contract), a
Chinese ``message`` for people, a ``kind`` that each entry point maps (HTTP status, console flash,
job retry/give-up) and optional structured ``details``. Entry points never catch ``Exception``
wholesale: a bug stays a 500 and is logged as one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"


class DomainError(Exception):
    kind: ErrorKind = ErrorKind.INVALID

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


class Invalid(DomainError):
    kind = ErrorKind.INVALID


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class Conflict(DomainError):
    kind = ErrorKind.CONFLICT


class Forbidden(DomainError):
    kind = ErrorKind.FORBIDDEN


class Unauthorized(DomainError):
    kind = ErrorKind.UNAUTHORIZED


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE


class RateLimited(DomainError):
    """Too many requests of one kind; ``details["retry_after"]`` (seconds) says when to try again."""

    kind = ErrorKind.RATE_LIMITED
