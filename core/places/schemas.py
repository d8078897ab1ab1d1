"""What the places API answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PlaceOut(BaseModel):
    code: str
    kind: str = Field(description="toilet 公厕 / parking 停车场")
    kind_label: str
    name: str
    address: str
    lng: float = Field(description="WGS-84 经度")
    lat: float = Field(description="WGS-84 纬度")
    distance_m: float | None = Field(default=None, description="到查询点的距离（米）")
    open_hours: str
    open_now: bool | None = Field(description="当前是否开放；开放时间未知时为 null")
    accessible: bool
    baby_room: bool
    ev_charging: bool
    free: bool
    fee_note: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    capacity: int | None = None
    available_spaces: int | None = Field(
        default=None, description="停车场实时空余车位；未上报或已过期时为 null"
    )
    availability_updated_at: str | None = Field(default=None, description="空余车位上报时间（北京时间）")


class PlaceList(BaseModel):
    items: list[PlaceOut]


class AvailabilityIn(BaseModel):
    available_spaces: int = Field(ge=0, le=2**31 - 1, description="当前空余车位数")
