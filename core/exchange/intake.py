"""A 12345 work order becomes a case (channel GOV12345, 待受理), once per order number.

Built on the intake helpers of ``core.cases.intake`` (the case, its number, location and deadlines);
what is specific to 12345 lives here: the category mapping, the position fallback, the caller as the
reporter (never logged), and the ``ExchangeOrder`` row that makes a repeat answer the first case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.cases.intake import MAX_DESCRIPTION, ReportInput, new_case
from core.cases.service import flush, record_event
from core.exchange import repository
from core.exchange.errors import ExchangeNotConfigured, OrderConflict
from core.exchange.schemas import OrderIn
from core.geo import service as geo_service
from core.geo.coords import CoordSystem
from core.geo.errors import InvalidCoordinates, OutsideServiceArea
from core.kit.clock import to_local
from core.models import CaseStatus, Category, Channel, ExchangeOrder, Priority
from core.settings import Settings

log = logging.getLogger("zhcg.exchange")


@dataclass(frozen=True)
class ReceivedOrder:
    case_no: str
    created: bool
    location_flagged: bool = False


def resolve_category(session: Session, settings: Settings, order: OrderIn) -> Category:
    """The mapping table (hint → code), then our own category of that name, then keywords found in the
    hint, title or description; anything else goes to the default category."""
    config = settings.gov12345
    hint = order.category.strip()
    candidates: list[tuple[str | None, str | None]] = []
    if hint and hint in config.category_map:
        candidates.append((config.category_map[hint], None))
    if hint:
        candidates.append((None, hint))
    text = f"{hint}\n{order.title}\n{order.description}"
    candidates += [
        (code, None) for keyword, code in config.category_keywords.items() if keyword and keyword in text
    ]
    if config.default_category:
        candidates.append((config.default_category, None))
    for code, name in candidates:
        category = repository.active_minor_category(session, code=code, name=name)
        if category is not None:
            return category
    raise ExchangeNotConfigured("默认案件小类 ZHCG_GOV12345__DEFAULT_CATEGORY 未配置或已停用")


def _position(session: Session, settings: Settings, order: OrderIn) -> tuple[float, float, CoordSystem, bool]:
    """The order's own position when it lies in the service area, else the configured default point
    (flagged for the operator). No address geocoder exists yet: an address alone gets the default."""
    if order.lng is not None and order.lat is not None:
        try:
            geo_service.locate(session, lng=order.lng, lat=order.lat, coord=CoordSystem(order.coord))
        except (OutsideServiceArea, InvalidCoordinates):
            pass
        else:
            return order.lng, order.lat, CoordSystem(order.coord), False
    config = settings.gov12345
    if config.default_lng is None or config.default_lat is None:
        raise ExchangeNotConfigured("默认位置 ZHCG_GOV12345__DEFAULT_LNG / DEFAULT_LAT 未配置")
    return config.default_lng, config.default_lat, CoordSystem.WGS84, True


def _same_order(session: Session, existing: ExchangeOrder, order: OrderIn, fingerprint: str) -> ReceivedOrder:
    if existing.payload_hash != fingerprint:
        raise OrderConflict(order.order_no)
    return ReceivedOrder(repository.case_no(session, existing.case_id), False, existing.location_flagged)


def _note(order: OrderIn, flagged: bool) -> str:
    parts = [f"12345 转办工单 {order.order_no}"]
    if order.deadline is not None:
        parts.append(f"12345 办理时限 {to_local(order.deadline):%Y-%m-%d %H:%M}")
    if flagged:
        parts.append("工单未提供有效位置，已放在默认位置，请受理员核实地址后更正")
    return "；".join(parts)


def receive_order(session: Session, settings: Settings, *, order: OrderIn) -> ReceivedOrder:
    """Create the case of a 12345 order, or answer the first case when the same order comes again.

    The same order number with a different content is refused (``order_conflict``). A concurrent
    request with the same number waits for the first one's commit (the unique order number) and then
    gets its answer.
    """
    fingerprint = order.fingerprint()
    existing = repository.order_by_no(session, order.order_no)
    if existing is not None:
        return _same_order(session, existing, order, fingerprint)
    category = resolve_category(session, settings, order)
    lng, lat, coord, flagged = _position(session, settings, order)
    title = order.title.strip()
    text = order.description if order.description.startswith(title) else f"{title}：{order.description}"
    data = ReportInput(
        category_code=category.code,
        description=text[:MAX_DESCRIPTION],
        lng=lng,
        lat=lat,
        coord=coord,
        address=order.address,
        anonymous=False,
        public=False,  # the caller never agreed to publish the order
        channel=Channel.GOV12345,
    )
    try:
        with session.begin_nested():
            case = new_case(session, settings, data, CaseStatus.PENDING, category=category)
            case.reporter_name = order.caller_name[:64]
            case.reporter_phone = order.caller_phone[:20]
            if order.urgency == "urgent":
                case.priority = Priority.URGENT
            session.add(case)
            flush(session)
            assert case.id is not None
            session.add(
                ExchangeOrder(
                    order_no=order.order_no,
                    case_id=case.id,
                    payload_hash=fingerprint,
                    due_at=order.deadline,
                    location_flagged=flagged,
                )
            )
            record_event(
                session, case, action="report", actor=None, from_status=None, note=_note(order, flagged)
            )
            flush(session)
    except IntegrityError:
        existing = repository.order_by_no(session, order.order_no)
        if existing is None:
            raise
        return _same_order(session, existing, order, fingerprint)
    log.info("12345 order received as case %s (location flagged: %s)", case.case_no, flagged)
    return ReceivedOrder(case.case_no, True, flagged)
