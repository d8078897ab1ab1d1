"""Citizen-facing places of the demo city: public toilets (公厕) and parking lots (停车场)."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass, replace

from shapely.geometry import Point, Polygon

from core.demo import names
from core.demo.geometry import LAT0, LNG0, M_PER_DEG_LAT, M_PER_DEG_LNG

TOILET_COUNT = 230
PARKING_COUNT = 120
INSET_DEGREES = 0.0005  # keep places ~50 m inside the outline
MIN_SPACING_M = 120.0
CENTRE_SHARE = 0.6  # share of places drawn around the centre rather than uniformly
CENTRE_SIGMA_M = 2500.0
PLACE_DECIMALS = 6


@dataclass(frozen=True)
class Place:
    code: str
    kind: str
    name: str
    address: str
    lng: float
    lat: float
    open_hours: str
    capacity: int
    fee_note: str
    accessible: bool
    baby_room: bool = False
    ev_charging: bool = False
    free: bool = False
    attributes: str = ""

    def row(self) -> list[str]:
        return [
            self.code,
            self.kind,
            self.name,
            self.address,
            f"{self.lng:.{PLACE_DECIMALS}f}",
            f"{self.lat:.{PLACE_DECIMALS}f}",
            self.open_hours,
            str(self.capacity),
            self.fee_note,
            "true" if self.accessible else "false",
            "true" if self.baby_room else "false",
            "true" if self.ev_charging else "false",
            "true" if self.free else "false",
            self.attributes,
        ]


def _with_attributes(place: Place) -> Place:
    """Baby room, EV charging, free and extra attributes, drawn from a generator seeded by the code so
    the main random stream (and so everything generated after the places) is unchanged."""
    rng = random.Random(f"{place.code}-attributes")
    extra: dict[str, object] = {}
    if place.kind == "toilet":
        baby_room = rng.random() < 0.35
        ev_charging = False
        if rng.random() < 0.3:
            extra["第三卫生间"] = True
    else:
        baby_room = False
        ev_charging = rng.random() < 0.3
        if ev_charging:
            extra["充电桩数量"] = rng.randint(2, 20)
        if rng.random() < 0.4:
            extra["限高米"] = rng.choice((2.0, 2.1, 2.2, 2.5))
    return replace(
        place,
        baby_room=baby_room,
        ev_charging=ev_charging,
        free=place.fee_note == "免费",
        attributes=json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else "",
    )


class _Sampler:
    """Seeded points inside the service area, denser towards the centre, never closer than MIN_SPACING_M."""

    def __init__(self, area: Polygon, rng: random.Random) -> None:
        self.inner = area.buffer(-INSET_DEGREES)
        self.rng = rng
        self.taken: list[tuple[float, float]] = []

    def _candidate(self) -> tuple[float, float]:
        if self.rng.random() < CENTRE_SHARE:
            dx = self.rng.gauss(0.0, CENTRE_SIGMA_M)
            dy = self.rng.gauss(0.0, CENTRE_SIGMA_M * 0.6)
            return LNG0 + dx / M_PER_DEG_LNG, LAT0 + dy / M_PER_DEG_LAT
        minx, miny, maxx, maxy = self.inner.bounds
        return self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy)

    def _far_enough(self, lng: float, lat: float) -> bool:
        return all(
            math.hypot((lng - x) * M_PER_DEG_LNG, (lat - y) * M_PER_DEG_LAT) >= MIN_SPACING_M
            for x, y in self.taken
        )

    def point(self) -> tuple[float, float]:
        while True:
            lng, lat = (round(value, PLACE_DECIMALS) for value in self._candidate())
            if self.inner.contains(Point(lng, lat)) and self._far_enough(lng, lat):
                self.taken.append((lng, lat))
                return lng, lat


class _Names:
    """Unique place names: the second 仙来广场公厕 becomes 仙来广场2号公厕."""

    def __init__(self) -> None:
        self.used: Counter[str] = Counter()

    def unique(self, base: str, suffix: str) -> str:
        self.used[base + suffix] += 1
        count = self.used[base + suffix]
        return base + suffix if count == 1 else f"{base}{count}号{suffix}"


def _address(rng: random.Random) -> tuple[str, str]:
    """A road and an address on it, e.g. ("劳动北路", "渝水区劳动北路88号")."""
    road = rng.choice(names.ROADS)
    return road, f"{names.DISTRICT_NAME}{road}{rng.randint(1, 420)}号"


def _toilets(sampler: _Sampler, rng: random.Random) -> list[Place]:
    used = _Names()
    places: list[Place] = []
    for index in range(1, TOILET_COUNT + 1):
        lng, lat = sampler.point()
        road, address = _address(rng)
        base = rng.choice(names.TOILET_LANDMARKS) if rng.random() < 0.35 else road
        name = used.unique(base, "公厕")
        places.append(
            Place(
                code=f"GC{index:04d}",
                kind="toilet",
                name=name,
                address=address,
                lng=lng,
                lat=lat,
                open_hours=rng.choice(names.TOILET_OPEN_HOURS),
                capacity=rng.choice((4, 6, 6, 8, 8, 10, 12, 14, 16, 20, 24)),
                fee_note=rng.choice(names.TOILET_FEE_NOTES),
                accessible=rng.random() < 0.7,
            )
        )
    return places


def _parking_lots(sampler: _Sampler, rng: random.Random) -> list[Place]:
    used = _Names()
    places: list[Place] = []
    for index in range(1, PARKING_COUNT + 1):
        lng, lat = sampler.point()
        road, address = _address(rng)
        style = rng.random()
        if style < 0.45:
            name = used.unique(rng.choice(names.PARKING_LANDMARKS), rng.choice(("停车场", "地下停车场")))
            capacity = rng.randrange(80, 1200, 10)
        elif style < 0.75:
            name = used.unique(road, "停车泊位")
            capacity = rng.randrange(12, 80, 2)
        else:
            name = used.unique(road, "公共停车场")
            capacity = rng.randrange(40, 400, 5)
        places.append(
            Place(
                code=f"TC{index:04d}",
                kind="parking",
                name=name,
                address=address,
                lng=lng,
                lat=lat,
                open_hours=rng.choice(names.PARKING_OPEN_HOURS),
                capacity=capacity,
                fee_note=rng.choice(names.PARKING_FEE_NOTES),
                accessible=rng.random() < 0.6,
            )
        )
    return places


def generate_places(area: Polygon, rng: random.Random) -> list[Place]:
    """Toilets then parking lots, all inside the area."""
    sampler = _Sampler(area, rng)
    return [_with_attributes(place) for place in _toilets(sampler, rng) + _parking_lots(sampler, rng)]
