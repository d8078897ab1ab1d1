"""Staff login for the field apps and API clients: username + password (argon2) → bearer token.

Every refusal is the same ``invalid_credentials`` answer, and costs one argon2 verification whether the
account is unknown, inactive or the password wrong, so neither the answer nor its timing tells which
usernames exist.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel import Session

from core.auth.service import token_for
from core.errors import RateLimited, Unauthorized
from core.kit.clock import utcnow
from core.kit.text import CleanStr
from core.models import StaffRole, StaffUser
from core.settings import Settings
from core.staff import repository
from core.staff import service as staff_service
from core.staff.passwords import hash_password, verify_password


class InvalidCredentials(Unauthorized):
    def __init__(self) -> None:
        super().__init__("invalid_credentials", "用户名或密码错误")


class StaffLogin(BaseModel):
    username: CleanStr = Field(min_length=1, max_length=64)
    password: CleanStr = Field(min_length=1, max_length=256)


class DepartmentRef(BaseModel):
    id: int
    code: str
    name: str


class AreaRef(BaseModel):
    id: int
    code: str
    name: str
    level: str


class StaffProfile(BaseModel):
    id: int
    username: str
    display_name: str
    role: StaffRole
    role_label: str = Field(description="角色中文名")
    department: DepartmentRef | None = Field(description="所属专业部门（处置人员）")
    area: AreaRef | None = Field(description="可处理的区域；为空表示全市")


class StaffToken(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme name, not a secret)
    expires_in: int = Field(description="令牌有效期（秒）")
    staff: StaffProfile


@cache
def _dummy_hash() -> str:
    """A real argon2 hash to verify against when there is no account, so refusals take equally long."""
    return hash_password("zhcg-no-such-account")


class CredentialsRejected(InvalidCredentials):
    """A refused login that was counted: the entry point commits the count before answering."""


def _throttle(session: Session, settings: Settings, *, username: str, client_ip: str) -> None:
    window = settings.auth.staff_login_window_s
    by_user, by_ip = repository.login_failures_since(
        session, username=username, client_ip=client_ip, since=utcnow() - timedelta(seconds=window)
    )
    if by_user >= settings.auth.staff_login_failures_per_username or (
        client_ip and by_ip >= settings.auth.staff_login_failures_per_ip
    ):
        minutes = max(1, window // 60)
        raise RateLimited(
            "login_rate_limited", f"登录失败次数过多，请 {minutes} 分钟后再试", retry_after=window
        )


def check_credentials(
    session: Session, *, settings: Settings, username: str, password: str, client_ip: str = ""
) -> StaffUser:
    """The account these credentials open, for the API's bearer token and the console's session alike.

    Throttled per username and per client address; a refusal is counted (``CredentialsRejected``: the
    entry point commits the count before answering) and takes as long whether or not the account exists.
    """
    username = username.strip()
    _throttle(session, settings, username=username, client_ip=client_ip)
    account = repository.by_username(session, username)
    user = None
    if account is None or not account.active:
        verify_password(_dummy_hash(), password)
    else:
        user = staff_service.authenticate(session, username=account.username, password=password)
    if user is None:
        repository.record_login_failure(session, username=username, client_ip=client_ip)
        raise CredentialsRejected()
    return user


def login(
    session: Session, *, settings: Settings, username: str, password: str, client_ip: str = ""
) -> StaffToken:
    user = check_credentials(
        session, settings=settings, username=username, password=password, client_ip=client_ip
    )
    token, ttl = token_for(settings, user)
    return StaffToken(token=token, expires_in=ttl, staff=profile(session, user))


def profile(session: Session, user: StaffUser) -> StaffProfile:
    assert user.id is not None
    department = repository.department_by_id(session, user.department_id) if user.department_id else None
    area = repository.area_by_id(session, user.area_id) if user.area_id else None
    return StaffProfile(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        role_label=user.role.label,
        department=(
            DepartmentRef(id=department.id, code=department.code, name=department.name)
            if department is not None and department.id is not None
            else None
        ),
        area=(
            AreaRef(id=area.id, code=area.code, name=area.name, level=area.level.value)
            if area is not None and area.id is not None
            else None
        ),
    )
