"""The request signature our HMAC partners share (the SMS gateway, the 12345 platform): lowercase hex
HMAC-SHA256 with the shared secret over ``"{timestamp}\\n{nonce}\\n{body}"`` (the exact body bytes)."""

from __future__ import annotations

import hashlib
import hmac


def timestamp_nonce_signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
