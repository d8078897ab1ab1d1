"""Places for the places tests."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.models.places import Place, PlaceKind

CENTRE = (114.917, 27.818)


def add_place(
    session: Session, code: str, lng: float, lat: float, kind: PlaceKind = PlaceKind.TOILET, **values: Any
) -> Place:
    values.setdefault("name", f"测试{code}")
    values.setdefault("open_hours", "00:00-24:00")
    place = Place(code=code, kind=kind, lng=lng, lat=lat, **values)
    session.add(place)
    session.flush()
    return place
