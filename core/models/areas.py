"""Administrative areas (district → street → community) and the grids that tile them."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field

from core.kit.sqltypes import StrEnumType
from core.models.base import Timestamped


class AreaLevel(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"

    @property
    def label(self) -> str:
        return {"district": "区县", "street": "街道", "community": "社区"}[self.value]


class AdminArea(Timestamped, table=True):
    __tablename__ = "admin_area"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True, index=True)
    name: str = Field(max_length=64)
    level: AreaLevel = Field(sa_type=StrEnumType(AreaLevel, 16))
    parent_id: int | None = Field(default=None, foreign_key="admin_area.id", index=True)


class ResponsibilityGrid(Timestamped, table=True):
    """A group of unit grids patrolled by one supervisor (责任网格)."""

    __tablename__ = "responsibility_grid"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True, index=True)
    name: str = Field(max_length=128)
    community_id: int = Field(foreign_key="admin_area.id", index=True)


class UnitGrid(Timestamped, table=True):
    """A ~100 m × 100 m cell (万米单元网格). The polygon is GeoJSON (WGS-84) so that it is portable
    across SQLite and PostgreSQL; spatial lookups use the in-process index of core.geo."""

    __tablename__ = "unit_grid"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=15, unique=True, index=True)
    community_id: int = Field(foreign_key="admin_area.id", index=True)
    responsibility_grid_id: int | None = Field(default=None, foreign_key="responsibility_grid.id", index=True)
    geometry: str
    area_m2: float
    centroid_lng: float
    centroid_lat: float
