"""Public convenience facilities (便民设施) citizens can look up: toilets and parking."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field

from core.kit.sqltypes import StrEnumType
from core.models.base import Timestamped


class PlaceKind(StrEnum):
    TOILET = "toilet"
    PARKING = "parking"

    @property
    def label(self) -> str:
        return {"toilet": "公厕", "parking": "停车场"}[self.value]


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
