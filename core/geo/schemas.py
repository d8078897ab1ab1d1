"""What a geocoded point resolves to."""

from __future__ import annotations

from pydantic import BaseModel


class CodeName(BaseModel):
    code: str
    name: str


class Location(BaseModel):
    lng: float
    lat: float
    unit_grid: str
    community: CodeName
    street: CodeName
    district: CodeName
    responsibility_grid: CodeName | None
    category: str | None = None
    department: CodeName | None = None
