"""Toilets and parking lots near a point, one place, and live parking availability.

The nearest-place index (one :class:`NearestIndex` per kind) is built once per process from the
database and rebuilt when the places change (checked at most every ``RECHECK_S`` seconds, and at once
after a places import in this process). Availability is never cached: the rows of the answer are read
fresh, and a value older than ``stale_after_s`` is reported as unknown (null).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from core.geo.coords import CoordSystem, haversine_m, to_wgs84
from core.kit.cache import SignedCache
from core.kit.clock import local_isoformat, to_local
from core.masterdata.service import on_imported
from core.models.places import ParkingOperator, Place, PlaceKind
from core.places import repository
from core.places.errors import (
    InvalidApiKey,
    InvalidAvailability,
    InvalidPlaceQuery,
    NotYourPlace,
    PlaceNotFound,
)
from core.places.hours import OpeningHours, parse_hours
from core.places.index import NearestIndex
from core.places.schemas import PlaceOut

RECHECK_S = 10.0
MAX_LIMIT = 50
API_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class IndexedPlace:
    id: int
    code: str
    kind: PlaceKind
    hours: OpeningHours | None
    accessible: bool


@dataclass
class PlacesContext:
    indexes: dict[PlaceKind, NearestIndex]
    places: dict[int, IndexedPlace]


def build_context(session: Session) -> PlacesContext:
    places: dict[int, IndexedPlace] = {}
    points: dict[PlaceKind, list[tuple[int, float, float]]] = {kind: [] for kind in PlaceKind}
    for place_id, code, kind, lng, lat, open_hours, accessible in repository.index_rows(session):
        kind = PlaceKind(kind)
        places[place_id] = IndexedPlace(place_id, code, kind, parse_hours(open_hours), accessible)
        points[kind].append((place_id, lng, lat))
    return PlacesContext(
        indexes={kind: NearestIndex.build(rows) for kind, rows in points.items()},
        places=places,
    )


_cache: SignedCache[PlacesContext] = SignedCache(
    build=lambda session: build_context(session),
    signature=repository.signature,
    recheck_s=RECHECK_S,
    kinds=frozenset({"places"}),
)
on_imported(_cache.invalidate)


def invalidate_cache() -> None:
    _cache.invalidate()


def get_context(session: Session) -> PlacesContext:
    return _cache.get(session)


def _attributes(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def availability(place: Place, *, now: datetime, stale_after_s: float) -> int | None:
    """The pushed number of free spaces, or None when never pushed or older than ``stale_after_s``."""
    if place.available_spaces is None or place.availability_updated_at is None:
        return None
    if now - place.availability_updated_at > timedelta(seconds=stale_after_s):
        return None
    return place.available_spaces


def to_out(place: Place, *, now: datetime, stale_after_s: float, distance_m: float | None = None) -> PlaceOut:
    hours = parse_hours(place.open_hours)
    spaces = availability(place, now=now, stale_after_s=stale_after_s)
    return PlaceOut(
        code=place.code,
        kind=place.kind.value,
        kind_label=place.kind.label,
        name=place.name,
        address=place.address,
        lng=place.lng,
        lat=place.lat,
        distance_m=None if distance_m is None else round(distance_m, 1),
        open_hours=place.open_hours,
        open_now=None if hours is None else hours.open_at(now),
        accessible=place.accessible,
        baby_room=place.baby_room,
        ev_charging=place.ev_charging,
        free=place.free,
        fee_note=place.fee_note,
        attributes=_attributes(place.attributes),
        capacity=place.capacity,
        available_spaces=spaces if place.kind is PlaceKind.PARKING else None,
        availability_updated_at=local_isoformat(place.availability_updated_at)
        if spaces is not None and place.availability_updated_at is not None
        else None,
    )


def _wgs84(lng: float, lat: float, coord: CoordSystem) -> tuple[float, float]:
    try:
        return to_wgs84(lng, lat, coord)
    except ValueError as exc:
        raise InvalidPlaceQuery(f"坐标不正确：{exc}") from exc


def nearest(
    session: Session,
    *,
    kind: PlaceKind,
    lng: float,
    lat: float,
    now: datetime,
    stale_after_s: float,
    coord: CoordSystem = CoordSystem.WGS84,
    limit: int = 10,
    open_now: bool | None = None,
    accessible: bool | None = None,
    max_distance_m: float | None = None,
) -> list[PlaceOut]:
    """Active places of ``kind`` nearest to the point first; ``open_now``/``accessible`` filter when
    given (``open_now=True``: open at ``now`` — places with unknown hours are left out)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidPlaceQuery(f"数量应在 1–{MAX_LIMIT} 之间")
    wgs_lng, wgs_lat = _wgs84(lng, lat, coord)
    context = get_context(session)
    places = context.places
    minute = _local_minute(now)

    def accept(place_id: int) -> bool:
        place = places[place_id]
        if accessible is not None and place.accessible != accessible:
            return False
        if open_now is not None:
            is_open = place.hours is not None and place.hours.open_at_minute(minute)
            if is_open != open_now:
                return False
        return True

    use_filter = accessible is not None or open_now is not None
    found = context.indexes[kind].nearest(
        wgs_lng, wgs_lat, limit, accept=accept if use_filter else None, max_distance_m=max_distance_m
    )
    rows = repository.places_by_id(session, [place_id for _, place_id in found])
    return [
        to_out(rows[place_id], now=now, stale_after_s=stale_after_s, distance_m=distance)
        for distance, place_id in found
        if place_id in rows
    ]


def _local_minute(now: datetime) -> int:
    local = to_local(now)
    return local.hour * 60 + local.minute


def get_place(
    session: Session,
    *,
    code: str,
    now: datetime,
    stale_after_s: float,
    lng: float | None = None,
    lat: float | None = None,
    coord: CoordSystem = CoordSystem.WGS84,
) -> PlaceOut:
    place = repository.place_by_code(session, code)
    if place is None:
        raise PlaceNotFound(code)
    distance = None
    if lng is not None and lat is not None:
        wgs_lng, wgs_lat = _wgs84(lng, lat, coord)
        distance = haversine_m(wgs_lng, wgs_lat, place.lng, place.lat)
    return to_out(place, now=now, stale_after_s=stale_after_s, distance_m=distance)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_operator(session: Session, *, name: str) -> tuple[ParkingOperator, str]:
    """A new parking operator and its API key (shown once; only the hash is stored)."""
    key = secrets.token_urlsafe(API_KEY_BYTES)
    operator = ParkingOperator(name=name, api_key_hash=hash_api_key(key))
    repository.add(session, operator)
    return operator, key


def authenticate_operator(session: Session, *, api_key: str | None) -> ParkingOperator:
    if not api_key or len(api_key) > 256:
        raise InvalidApiKey()
    operator = repository.operator_by_key_hash(session, hash_api_key(api_key))
    if operator is None:
        raise InvalidApiKey()
    return operator


def push_availability(
    session: Session,
    *,
    code: str,
    api_key: str | None,
    available_spaces: int,
    now: datetime,
    stale_after_s: float,
) -> PlaceOut:
    """An operator reports the free spaces of one of its parking lots."""
    operator = authenticate_operator(session, api_key=api_key)
    place = repository.place_by_code(session, code, for_update=True)
    if place is None:
        raise PlaceNotFound(code)
    if place.kind is not PlaceKind.PARKING or place.operator_id != operator.id:
        raise NotYourPlace(code)
    if available_spaces < 0:
        raise InvalidAvailability("空余车位数不能为负数")
    if place.capacity is not None and available_spaces > place.capacity:
        raise InvalidAvailability(f"空余车位数 {available_spaces} 超过车位总数 {place.capacity}")
    place.available_spaces = available_spaces
    place.availability_updated_at = now
    repository.add(session, place)
    return to_out(place, now=now, stale_after_s=stale_after_s)
