"""Uploaded photos: the original is kept privately (content-addressed); a job derives a display copy
and a thumbnail without metadata."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.models.base import Timestamped


class OwnerKind(StrEnum):
    """Who uploaded a photo (``owner_id`` is that kind's row id). Stored by value in VARCHAR(16)
    without a CHECK constraint, so a new kind needs no migration."""

    CITIZEN = "citizen"
    STAFF = "staff"
    OPEN311 = "open311"  # an Open311 client (``open311_client.id``): a photo sent with a service request


class UploadStatus(StrEnum):
    PENDING = "pending"  # original stored, derivatives not yet made
    READY = "ready"
    FAILED = "failed"


class Upload(Timestamped, table=True):
    __tablename__ = "upload"

    id: str = Field(primary_key=True, max_length=32)  # public random id
    owner_kind: OwnerKind = Field(sa_type=StrEnumType(OwnerKind, 16))
    owner_id: int = Field(index=True)
    sha256: str = Field(max_length=64, index=True)
    content_type: str = Field(max_length=32)
    size_bytes: int
    width: int
    height: int
    original_key: str = Field(max_length=256)
    display_key: str | None = Field(default=None, max_length=256)
    thumb_key: str | None = Field(default=None, max_length=256)
    status: UploadStatus = Field(default=UploadStatus.PENDING, sa_type=StrEnumType(UploadStatus, 16))
    exif_lng: float | None = None
    exif_lat: float | None = None
    exif_taken_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
