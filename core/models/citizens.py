"""Citizens (市民) and the one-time SMS codes they log in with."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from core.kit.sqltypes import UTCDateTime
from core.models.base import Timestamped


class Citizen(Timestamped, table=True):
    __tablename__ = "citizen"

    id: int | None = Field(default=None, primary_key=True)
    phone: str | None = Field(default=None, max_length=20, unique=True, index=True)
    openid: str | None = Field(default=None, max_length=64, unique=True, index=True)  # WeChat mini-program
    unionid: str | None = Field(default=None, max_length=64, index=True)  # only when the app is bound
    nickname: str = Field(default="", max_length=64)
    active: bool = True
    token_version: int = 0  # bump to revoke every token issued so far


class SmsCode(Timestamped, table=True):
    """A login code sent to a phone: only its hash is stored; limited attempts and lifetime."""

    __tablename__ = "sms_code"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, index=True)
    purpose: str = Field(default="login", max_length=16)
    code_hash: str = Field(max_length=128)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    consumed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    client_ip: str = Field(default="", max_length=64)
