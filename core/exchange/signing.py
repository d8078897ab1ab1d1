"""Signing of 12345 exchange requests, both ways, and the nonce store of inbound requests.

Every request carries ``X-Gov-App-Id``, ``X-Gov-Timestamp`` (Unix seconds), ``X-Gov-Nonce`` (8–64 of
``[A-Za-z0-9_-]``, never reused within the window) and ``X-Gov-Signature``: lowercase hex
HMAC-SHA256 with the shared secret over ``"{timestamp}\\n{nonce}\\n"`` followed by the exact body bytes.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from redis import Redis
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from core.exchange.errors import NonceReused, SignatureInvalid, TimestampExpired
from core.kit.clock import utcnow
from core.kit.signing import timestamp_nonce_signature
from core.models import ExchangeNonce
from core.settings import Settings

HEADER_APP_ID = "X-Gov-App-Id"
HEADER_TIMESTAMP = "X-Gov-Timestamp"
HEADER_NONCE = "X-Gov-Nonce"
HEADER_SIGNATURE = "X-Gov-Signature"
NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"[0-9a-f]{64}")


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    return timestamp_nonce_signature(secret, timestamp, nonce, body)


def signed_headers(*, app_id: str, secret: str, body: bytes, now_s: float | None = None) -> dict[str, str]:
    """The headers of one signed request (a fresh nonce each call)."""
    timestamp = str(int(time.time() if now_s is None else now_s))
    nonce = secrets.token_hex(16)
    return {
        HEADER_APP_ID: app_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(secret, timestamp, nonce, body),
    }


def verify(
    headers: Mapping[str, str], body: bytes, *, app_id: str, secret: str, window_s: int, now_s: float
) -> str:
    """Check the app id, the signature (in constant time) and the timestamp window; the nonce to claim.

    The signature is checked first: nothing about the window is told to a caller who cannot sign.
    """
    timestamp = headers.get(HEADER_TIMESTAMP, "")
    nonce = headers.get(HEADER_NONCE, "")
    given = headers.get(HEADER_SIGNATURE, "").lower()
    caller = headers.get(HEADER_APP_ID, "")
    if not (TIMESTAMP.fullmatch(timestamp) and NONCE.fullmatch(nonce) and SIGNATURE.fullmatch(given)):
        raise SignatureInvalid()
    expected = signature(secret, timestamp, nonce, body)
    app_ok = hmac.compare_digest(caller.encode(), app_id.encode())
    if not (hmac.compare_digest(expected, given) and app_ok):
        raise SignatureInvalid()
    if abs(now_s - int(timestamp)) > window_s:
        raise TimestampExpired()
    return nonce


class NonceStore(Protocol):
    def claim(self, nonce: str) -> bool:
        """True when the nonce was not seen within the window (and is now taken)."""
        ...


@functools.cache
def _redis(url: str) -> Redis:
    return Redis.from_url(url)


class RedisNonces:
    def __init__(self, url: str, prefix: str, ttl_s: int) -> None:
        self.connection = _redis(url)
        self.prefix = prefix
        self.ttl_s = ttl_s

    def claim(self, nonce: str) -> bool:
        key = f"{self.prefix}:gov12345:nonce:{nonce}"
        return bool(self.connection.set(key, "1", nx=True, ex=self.ttl_s))


class DatabaseNonces:
    """Nonces in the request's own transaction (a refused request leaves its nonce unclaimed)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, nonce: str) -> bool:
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = ExchangeNonce.__table__  # type: ignore[attr-defined]
        statement = (
            insert(table)
            .values(nonce=nonce, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["nonce"])
            .returning(table.c.nonce)
        )
        return self.session.execute(statement).scalar_one_or_none() is not None


def nonce_store(session: Session, settings: Settings) -> NonceStore:
    """Redis when configured, else the database; nonces are kept for twice the window."""
    ttl_s = 2 * settings.gov12345.timestamp_window_s
    if settings.redis.url:
        return RedisNonces(settings.redis.url, settings.redis.queue_prefix, ttl_s)
    return DatabaseNonces(session)


def claim_nonce(store: NonceStore, nonce: str) -> None:
    if not store.claim(nonce):
        raise NonceReused()


def purge_nonces(session: Session, *, older_than: datetime) -> int:
    result = session.execute(delete(ExchangeNonce).where(col(ExchangeNonce.created_at) < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def nonce_retention(settings: Settings) -> timedelta:
    return timedelta(seconds=2 * settings.gov12345.timestamp_window_s)
