"""The signing rules of the exchange and both nonce stores (Redis when configured, else the database)."""

from __future__ import annotations

import secrets

import pytest
from redis import Redis
from sqlmodel import Session

from core.exchange import signing
from core.exchange.errors import NonceReused, SignatureInvalid, TimestampExpired
from core.settings import get_settings
from tests.fixtures.fake_12345 import sign

NOW = 1_800_000_000


def headers(body: bytes, *, secret: str = "s3cret-shared-key", timestamp: int = NOW) -> dict[str, str]:
    nonce = secrets.token_hex(8)
    return {
        signing.HEADER_APP_ID: "zhcg",
        signing.HEADER_TIMESTAMP: str(timestamp),
        signing.HEADER_NONCE: nonce,
        signing.HEADER_SIGNATURE: sign(secret, str(timestamp), nonce, body),
    }


def check(given: dict[str, str], body: bytes) -> str:
    return signing.verify(given, body, app_id="zhcg", secret="s3cret-shared-key", window_s=300, now_s=NOW)


def test_the_signature_is_hmac_sha256_over_timestamp_nonce_and_body() -> None:
    body = b'{"order_no":"GD1"}'
    assert signing.signature("k", "1", "n", body) == sign("k", "1", "n", body)
    given = headers(body)
    assert check(given, body) == given[signing.HEADER_NONCE]
    assert check({**given, signing.HEADER_SIGNATURE: given[signing.HEADER_SIGNATURE].upper()}, body)


@pytest.mark.parametrize(
    "change",
    [
        {signing.HEADER_APP_ID: "other"},
        {signing.HEADER_SIGNATURE: "0" * 64},
        {signing.HEADER_SIGNATURE: ""},
        {signing.HEADER_TIMESTAMP: "soon"},
        {signing.HEADER_NONCE: "short"},
    ],
)
def test_anything_unsigned_is_signature_invalid(change: dict[str, str]) -> None:
    body = b"{}"
    with pytest.raises(SignatureInvalid):
        check({**headers(body), **change}, body)


def test_the_window_is_checked_after_the_signature() -> None:
    body = b"{}"
    check(headers(body, timestamp=NOW - 300), body)
    with pytest.raises(TimestampExpired):
        check(headers(body, timestamp=NOW + 301), body)
    with pytest.raises(SignatureInvalid):  # an old request with a wrong signature learns nothing more
        check(headers(body, timestamp=NOW - 3600, secret="guess"), body)


def test_database_nonces_are_claimed_once(session: Session) -> None:
    store = signing.DatabaseNonces(session)
    nonce = secrets.token_hex(8)
    signing.claim_nonce(store, nonce)
    with pytest.raises(NonceReused):
        signing.claim_nonce(store, nonce)


def test_redis_nonces_are_claimed_once_and_expire(redis_url: str) -> None:
    prefix = f"zhcgtest{secrets.token_hex(4)}"
    settings = get_settings()
    settings = settings.model_copy(
        update={"redis": settings.redis.model_copy(update={"url": redis_url, "queue_prefix": prefix})}
    )
    store = signing.nonce_store(None, settings)  # type: ignore[arg-type]
    assert isinstance(store, signing.RedisNonces)
    nonce = secrets.token_hex(8)
    try:
        signing.claim_nonce(store, nonce)
        with pytest.raises(NonceReused):
            signing.claim_nonce(store, nonce)
        ttl = Redis.from_url(redis_url).ttl(f"{prefix}:gov12345:nonce:{nonce}")
        assert 0 < ttl <= 2 * settings.gov12345.timestamp_window_s
    finally:
        Redis.from_url(redis_url).delete(f"{prefix}:gov12345:nonce:{nonce}")
