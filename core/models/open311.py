"""Open311 GeoReport v2 clients (API keys) and the requests they filed (with their tokens)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.base import Timestamped, created_at_field

DEFAULT_REQUESTS_PER_HOUR = 120


class Open311Client(Timestamped, table=True):
    """A third-party civic-reporting client allowed to POST service requests with an API key.

    Only the SHA-256 (hex) of the key is stored; keys are random 32-byte tokens, so a plain hash is
    enough (no password stretching needed)."""

    __tablename__ = "open311_client"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    api_key_hash: str = Field(max_length=64, unique=True, index=True)
    enabled: bool = True
    requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR


class Open311Token(SQLModel, table=True):
    """One service request filed through Open311: its client, its case and the token it can be
    looked up by (``GET tokens/{token}``). Contact e-mail and media URL are kept here, never shown
    publicly (the media URL is the client's own public link and is echoed only for this case)."""

    __tablename__ = "open311_token"
    __table_args__ = (
        # The per-client hourly limit counts one client's requests in a time window.
        sa.Index("ix_open311_token_client_created_at", "client_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True, index=True)
    client_id: int = Field(foreign_key="open311_client.id")
    case_id: int = Field(foreign_key="case.id", unique=True)
    email: str = Field(default="", max_length=254)
    media_url: str = Field(default="", max_length=1024)
    created_at: datetime = created_at_field()
