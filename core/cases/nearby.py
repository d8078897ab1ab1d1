"""What others already reported near a point: open public cases, and likely duplicates of a report
about to be filed. Public answers: no reporter, no phone numbers, no photos' metadata."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from sqlmodel import Session

from core.cases import repository
from core.cases.schemas import PublicCase
from core.cases.views import CITIZEN_STATUS
from core.errors import Invalid
from core.geo.coords import CoordSystem, haversine_m, to_wgs84, validate_lng_lat
from core.geo.errors import InvalidCoordinates
from core.models import Case, Category

METRES_PER_DEGREE = 111_320.0
MAX_CANDIDATES = 2000
DUPLICATE_RADIUS_M = 100.0
DUPLICATE_WINDOW = timedelta(days=30)
DUPLICATE_LIMIT = 5
# Runs of 7+ digits (phone, ID and plate numbers typed into a description) are masked in public views.
LONG_NUMBER = re.compile(r"\d{7,}")


def _public_description(text: str) -> str:
    return LONG_NUMBER.sub(lambda match: match.group()[:3] + "****", text)


def _point(lng: float, lat: float, coord: CoordSystem) -> tuple[float, float]:
    try:
        validate_lng_lat(lng, lat)
    except ValueError as exc:
        raise InvalidCoordinates(str(exc)) from exc
    return to_wgs84(lng, lat, coord)


def _around(
    session: Session,
    *,
    lng: float,
    lat: float,
    radius_m: float,
    category_ids: list[int] | None,
    since: datetime | None,
) -> list[tuple[float, Case]]:
    dlat = radius_m / METRES_PER_DEGREE
    dlng = radius_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    candidates = repository.open_public_in_box(
        session,
        min_lng=lng - dlng,
        max_lng=lng + dlng,
        min_lat=lat - dlat,
        max_lat=lat + dlat,
        category_ids=category_ids,
        since=since,
        limit=MAX_CANDIDATES,
    )
    measured = [(haversine_m(lng, lat, case.lng, case.lat), case) for case in candidates]
    return sorted(
        ((d, case) for d, case in measured if d <= radius_m), key=lambda item: (item[0], -(item[1].id or 0))
    )


def _public(session: Session, distance: float, case: Case, categories: dict[int, Category]) -> PublicCase:
    category = categories.get(case.category_id) or repository.category(session, case.category_id)
    return PublicCase(
        case_no=case.case_no,
        category=category.name if category else "",
        category_code=category.code if category else "",
        status=CITIZEN_STATUS[case.status],
        address=case.address,
        description=_public_description(case.description),
        lng=round(case.lng, 6),
        lat=round(case.lat, 6),
        distance_m=round(distance, 1),
        reported_at=case.created_at,
    )


def _page(session: Session, found: list[tuple[float, Case]]) -> list[PublicCase]:
    categories = repository.categories_by_ids(session, {case.category_id for _, case in found})
    return [_public(session, distance, case, categories) for distance, case in found]


def nearby(
    session: Session,
    *,
    lng: float,
    lat: float,
    coord: CoordSystem,
    radius_m: float,
    category_code: str | None,
    limit: int,
) -> list[PublicCase]:
    """Open public cases within ``radius_m`` of the point, nearest first."""
    wgs_lng, wgs_lat = _point(lng, lat, coord)
    category_ids = None
    if category_code:
        category = repository.category_by_code(session, category_code)
        if category is None:
            raise Invalid("unknown_category", f"案件类别“{category_code}”不存在")
        assert category.id is not None
        category_ids = (
            [category.id]
            if category.level == "minor"
            else repository.minor_ids_of_major(session, category.id)
        )
    found = _around(
        session, lng=wgs_lng, lat=wgs_lat, radius_m=radius_m, category_ids=category_ids, since=None
    )
    return _page(session, found[:limit])


def likely_duplicates(
    session: Session, *, lng: float, lat: float, coord: CoordSystem, category_code: str, now: datetime
) -> list[PublicCase]:
    """Before filing: open recent cases of the same minor category first, then of its major category,
    within about 100 m."""
    wgs_lng, wgs_lat = _point(lng, lat, coord)
    category = repository.category_by_code(session, category_code)
    if category is None or category.level != "minor" or category.parent_id is None:
        raise Invalid("unknown_category", f"案件小类“{category_code}”不存在")
    related = repository.minor_ids_of_major(session, category.parent_id)
    found = _around(
        session,
        lng=wgs_lng,
        lat=wgs_lat,
        radius_m=DUPLICATE_RADIUS_M,
        category_ids=related,
        since=now - DUPLICATE_WINDOW,
    )
    found.sort(key=lambda item: (item[1].category_id != category.id, item[0]))
    return _page(session, found[:DUPLICATE_LIMIT])
