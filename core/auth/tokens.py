"""Bearer tokens: ``zc1.<kind>.<subject>.<version>.<expires>.<signature>``, HMAC-SHA256 with the app
secret. Stateless to check; revocable by bumping the subject's ``token_version``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "zc1"


class SubjectKind(StrEnum):
    CITIZEN = "citizen"
    STAFF = "staff"


@dataclass(frozen=True)
class TokenClaims:
    kind: SubjectKind
    subject_id: int
    version: int
    expires_at: int


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_token(secret: str, *, kind: SubjectKind, subject_id: int, version: int, expires_at: int) -> str:
    payload = f"{PREFIX}.{kind.value}.{subject_id}.{version}.{expires_at}"
    return f"{payload}.{_sign(secret, payload)}"


def read_token(secret: str, token: str, *, now: int) -> TokenClaims | None:
    """The claims of a valid, unexpired token; None for anything else (never raises)."""
    parts = token.split(".")
    if len(parts) != 6 or parts[0] != PREFIX:
        return None
    payload, signature = ".".join(parts[:5]), parts[5]
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        kind = SubjectKind(parts[1])
        subject_id, version, expires_at = int(parts[2]), int(parts[3]), int(parts[4])
    except ValueError:
        return None
    if expires_at <= now:
        return None
    return TokenClaims(kind, subject_id, version, expires_at)
