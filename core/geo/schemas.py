"""What a geocoded point resolves to."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CodeName(BaseModel):
    code: str
    name: str


class Location(BaseModel):
    lng: float = Field(description="经度（WGS-84，无论请求使用哪种坐标系）")
    lat: float = Field(description="纬度（WGS-84）")
    unit_grid: str
    community: CodeName
    street: CodeName
    district: CodeName
    responsibility_grid: CodeName | None
    category: str | None = None
    department: CodeName | None = None
