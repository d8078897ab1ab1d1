"""``POST requests``: a service request becomes a case (channel Open311, 待受理, public like the request).

Checked in this order (a refused request writes nothing): the client's hourly limit, the service, the
location, the attributes, the media URL; then, in a savepoint, the description and the point (common
intake, ``core.cases.intake.new_case``) and the uploaded photo (validated exactly like a citizen's,
``core.uploads.service.receive``). The case, its ``Open311Token`` row, its photo and its first history
row are written together.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlmodel import Session

from core.cases import repository as case_repository
from core.cases.intake import ReportInput, new_case
from core.cases.service import flush, record_event
from core.geo import service as geo_service
from core.geo.errors import GridsNotLoaded
from core.models import (
    Case,
    CasePhoto,
    CaseStatus,
    Category,
    Channel,
    OwnerKind,
    PhotoStage,
    RegisterStandard,
)
from core.models.open311 import Open311Client, Open311Token
from core.open311 import mapping, repository
from core.open311.address import AddressPoint, locate_address
from core.open311.errors import (
    AddressNotLocated,
    BadParameter,
    LocationRequired,
    MediaUrlRefused,
    MissingParameter,
    ServiceNotFound,
)
from core.open311.schemas import MAX_MEDIA_URL, Fields, PostedRequest
from core.open311.service import check_rate
from core.settings import Settings
from core.uploads import service as uploads
from core.uploads.storage import storage_for

TOKEN_BYTES = 24


@dataclass(frozen=True)
class Position:
    """Where the case goes: the client's coordinates, or a point found from the address alone."""

    lng: float
    lat: float
    by_address: AddressPoint | None = None


def _position(session: Session, data: PostedRequest) -> Position:
    if data.lat is not None and data.long is not None:
        return Position(lng=data.long, lat=data.lat)
    if data.lat is not None or data.long is not None:
        raise BadParameter("long" if data.long is None else "lat", "lat 和 long 必须同时提供")
    if not data.address_string:
        raise LocationRequired()
    context = geo_service.get_context(session)
    if len(context.index) == 0:
        raise GridsNotLoaded()
    grids = (context.index.grid(i) for i in range(len(context.index)))
    found = locate_address(data.address_string, area_names=context.area_names, grids=grids)
    if found is None:
        raise AddressNotLocated()
    return Position(lng=found.lng, lat=found.lat, by_address=found)


def _media_url(url: str) -> str:
    """Kept as a reference and never fetched by us (no server-side requests to client-given URLs)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if (
        len(url) > MAX_MEDIA_URL
        or parts.scheme != "https"
        or not parts.hostname
        or any(c.isspace() for c in url)
    ):
        raise MediaUrlRefused()
    return url


def _attribute_note(standards: list[RegisterStandard], attributes: dict[str, list[str]]) -> str:
    values = attributes.get(mapping.STANDARD_ATTRIBUTE, [])
    if not values:
        return ""
    if len(values) > 1:
        raise BadParameter(f"attribute[{mapping.STANDARD_ATTRIBUTE}]", "只能选择一项")
    chosen = next((standard for standard in standards if str(standard.seq) == values[0]), None)
    if chosen is None:
        raise BadParameter(f"attribute[{mapping.STANDARD_ATTRIBUTE}]", "取值不在允许范围内")
    return f"现场情况：{chosen.condition}"


def _description(category: Category, text: str) -> str:
    return text or f"{category.name}问题（Open311 客户端提交，未填写描述）"


@dataclass(frozen=True)
class Filed:
    case: Case
    token: str
    position: Position
    photo_id: str | None = None


def _history_note(
    client: Open311Client, data: PostedRequest, *, attribute_note: str, media_url: str, filed: Filed
) -> str:
    notes = [f"Open311 客户端“{client.name}”提交", attribute_note]
    found = filed.position.by_address
    if found is not None:
        notes.append(
            f"客户端只提供了地址，已按地址中的“{found.community_name}”放在该社区内的代表位置，"
            "请受理员按地址核实具体位置"
        )
    if data.email:
        notes.append(f"联系邮箱：{data.email[:254]}")
    if media_url:
        notes.append(f"客户端提供的图片链接（未下载）：{media_url}")
    if filed.photo_id is not None:
        notes.append("附客户端上传的现场照片 1 张")
    return "；".join(note for note in notes if note)


def file_request(
    session: Session,
    settings: Settings,
    *,
    client: Open311Client,
    data: PostedRequest,
    media: bytes | None = None,
) -> Filed:
    """One case for one service request (``media``: the bytes of an uploaded photo, if any)."""
    assert client.id is not None
    check_rate(session, client)
    if not data.service_code:
        raise MissingParameter("service_code")
    category = repository.active_minor_by_code(session, data.service_code)
    if category is None or category.id is None:
        raise ServiceNotFound(data.service_code)  # 404, as the specification says
    position = _position(session, data)
    standards = case_repository.standards_of(session, category.id)
    attribute_note = _attribute_note(standards, {k: list(v) for k, v in data.attributes.items()})
    media_url = _media_url(data.media_url)
    report = ReportInput(
        category_code=category.code,
        description=_description(category, data.description),
        lng=position.lng,
        lat=position.lat,
        address=data.address_string,
        anonymous=False,
        public=True,  # Open311 requests are public by the specification (GET requests)
        channel=Channel.OPEN311,
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with session.begin_nested():
        case = new_case(session, settings, report, CaseStatus.PENDING, category=category)
        photo_id = None
        if media is not None:
            received = uploads.receive(
                session,
                storage=storage_for(settings.storage),
                limits=settings.storage,
                owner=(OwnerKind.OPEN311, client.id),
                data=media,
            )
            photo_id = received.upload.id
        case.reporter_name = f"{data.last_name}{data.first_name}".strip()[:64]
        case.reporter_phone = data.phone[:20]
        session.add(case)
        flush(session)
        assert case.id is not None
        repository.add(
            session,
            Open311Token(
                token=token, client_id=client.id, case_id=case.id, email=data.email[:254], media_url=media_url
            ),
        )
        if photo_id is not None:
            repository.add(session, CasePhoto(case_id=case.id, upload_id=photo_id, stage=PhotoStage.REPORT))
        filed = Filed(case=case, token=token, position=position, photo_id=photo_id)
        note = _history_note(client, data, attribute_note=attribute_note, media_url=media_url, filed=filed)
        record_event(session, case, action="report", actor=None, from_status=None, note=note)
        flush(session)
    return filed


def filed_answer(filed: Filed) -> Fields:
    """A realtime service: the request id and, as the specification asks, no token."""
    notice = f"您反映的问题已提交，等待受理；案件编号 {filed.case.case_no}"
    if filed.position.by_address is not None:
        notice += "。位置已按地址中的社区大致确定，工作人员将核实具体位置"
    return {"service_request_id": filed.case.case_no, "service_notice": notice, "account_id": None}
