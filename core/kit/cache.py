"""A value built from the database once per process and reused while the data it came from is
unchanged: a cheap signature query decides, at most every ``recheck_s`` seconds, and an explicit
``invalidate`` (e.g. after an import in this process) forces a rebuild."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlmodel import Session

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    signature: Hashable
    checked_at: float


class SignedCache(Generic[T]):
    def __init__(
        self,
        *,
        build: Callable[[Session], T],
        signature: Callable[[Session], Hashable],
        recheck_s: float,
        kinds: frozenset[str] | None = None,
    ) -> None:
        self._build = build
        self._signature = signature
        self._recheck_s = recheck_s
        self._kinds = kinds
        self._lock = threading.Lock()
        self._entry: _Entry[T] | None = None

    def get(self, session: Session) -> T:
        entry, now = self._entry, time.monotonic()
        if entry is not None and now - entry.checked_at < self._recheck_s:
            return entry.value
        with self._lock:  # one build at a time; an invalidation waits for it, so nothing stale is kept
            entry = self._entry
            if entry is not None and now - entry.checked_at < self._recheck_s:
                return entry.value
            signature = self._signature(session)
            if entry is not None and signature == entry.signature:
                entry.checked_at = now
                return entry.value
            value = self._build(session)
            self._entry = _Entry(value, signature, now)
            return value

    def invalidate(self, kind: str | None = None) -> None:
        """Forget the value (for ``kind`` None, or one of the data kinds this value is built from)."""
        if kind is None or self._kinds is None or kind in self._kinds:
            with self._lock:
                self._entry = None
