"""Public convenience facilities (便民设施) citizens can look up: toilets and parking."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from core.kit.sqltypes import StrEnumType, UTCDateTime
from core.models.base import Timestamped


class PlaceKind(StrEnum):
    TOILET = "toilet"
    PARKING = "parking"

    @property
    def label(self) -> str:
        return {"toilet": "公厕", "parking": "停车场"}[self.value]


class ParkingOperator(Timestamped, table=True):
    """A parking operator that pushes live availability for its lots with an API key.

    Only the SHA-256 (hex) of the key is stored; keys are random 32-byte tokens, so a plain hash is
    enough (no password stretching needed)."""

    __tablename__ = "parking_operator"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    api_key_hash: str = Field(max_length=64, unique=True, index=True)
    active: bool = True


class Place(Timestamped, table=True):
    __tablename__ = "place"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    kind: PlaceKind = Field(sa_type=StrEnumType(PlaceKind, 16), index=True)
    name: str = Field(max_length=128)
    address: str = Field(default="", max_length=256)
    lng: float
    lat: float
    open_hours: str = Field(default="", max_length=64)
    capacity: int | None = None
    fee_note: str = Field(default="", max_length=128)
    accessible: bool = False
    active: bool = True
    baby_room: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    ev_charging: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    free: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Extra attributes as a JSON object text, e.g. {"family_room": true, "height_limit_m": 2.1}.
    attributes: str | None = Field(default=None, sa_type=sa.Text)
    # Live availability of a parking lot, pushed by its operator.
    operator_id: int | None = Field(default=None, foreign_key="parking_operator.id", index=True)
    available_spaces: int | None = None
    availability_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
