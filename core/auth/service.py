"""Who is calling: bearer token → citizen or staff account."""

from __future__ import annotations

from sqlmodel import Session

from core.auth import repository
from core.auth.tokens import SubjectKind, issue_token, read_token
from core.errors import Unauthorized
from core.kit.clock import utcnow
from core.models import Citizen, StaffUser
from core.settings import Settings

Principal = Citizen | StaffUser


class NotAuthenticated(Unauthorized):
    def __init__(self) -> None:
        super().__init__("unauthorized", "登录已失效，请重新登录")


def token_for(settings: Settings, principal: Principal) -> tuple[str, int]:
    """A new bearer token and its lifetime in seconds."""
    if isinstance(principal, Citizen):
        kind, ttl = SubjectKind.CITIZEN, settings.auth.citizen_token_ttl_s
    else:
        kind, ttl = SubjectKind.STAFF, settings.auth.staff_token_ttl_s
    assert principal.id is not None
    expires_at = int(utcnow().timestamp()) + ttl
    secret = settings.app.secret_key.get_secret_value()
    return issue_token(
        secret, kind=kind, subject_id=principal.id, version=principal.token_version, expires_at=expires_at
    ), ttl


def principal_for(session: Session, settings: Settings, token: str) -> Principal:
    claims = read_token(settings.app.secret_key.get_secret_value(), token, now=int(utcnow().timestamp()))
    if claims is None:
        raise NotAuthenticated()
    principal: Principal | None = (
        repository.citizen(session, claims.subject_id)
        if claims.kind is SubjectKind.CITIZEN
        else repository.staff(session, claims.subject_id)
    )
    if principal is None or not principal.active or principal.token_version != claims.version:
        raise NotAuthenticated()
    return principal
