"""New cases: citizens' reports (idempotent) and supervisors' reports (监督员上报)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from core.cases import deadlines, repository
from core.cases.errors import CaseNotFound
from core.cases.numbers import next_case_no
from core.cases.service import attach_photos, flush, get_case, record_event
from core.errors import Conflict, Forbidden, Invalid, RateLimited
from core.geo import service as geo_service
from core.geo.coords import CoordSystem
from core.kit.clock import to_local, utcnow
from core.models import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseStatus,
    Category,
    Channel,
    Citizen,
    PhotoStage,
    StaffRole,
    StaffUser,
)
from core.settings import Settings

MIN_DESCRIPTION = 5
MAX_DESCRIPTION = 1000
MAX_ADDRESS = 256
CITIZEN_CHANNELS = frozenset({Channel.MINIPROGRAM, Channel.APP, Channel.WEB})
# The clients' X-Device-Id: an opaque string of 8–128 printable ASCII characters.
DEVICE_ID = re.compile(r"[\x20-\x7e]{8,128}")
DEVICE_HASH_LENGTH = 32  # hex characters kept of the HMAC-SHA256 (128 bits)


@dataclass(frozen=True)
class ReportInput:
    category_code: str
    description: str
    lng: float
    lat: float
    coord: CoordSystem = CoordSystem.WGS84
    address: str = ""
    upload_ids: tuple[str, ...] = ()
    anonymous: bool = False
    public: bool = True
    channel: Channel = Channel.MINIPROGRAM


def _category(session: Session, code: str) -> Category:
    return _checked_category(repository.category_by_code(session, code), code)


def _checked_category(category: Category | None, code: str) -> Category:
    if category is None or category.level != "minor" or not category.active:
        raise Invalid("unknown_category", f"案件小类“{code}”不存在")
    return category


def _description(text: str) -> str:
    text = text.strip()
    if len(text) < MIN_DESCRIPTION:
        raise Invalid("description_too_short", f"问题描述至少 {MIN_DESCRIPTION} 个字")
    if len(text) > MAX_DESCRIPTION:
        raise Invalid("description_too_long", f"问题描述最多 {MAX_DESCRIPTION} 个字")
    return text


def new_case(
    session: Session,
    settings: Settings,
    data: ReportInput,
    status: CaseStatus,
    *,
    category: Category | None = None,
) -> Case:
    """A case from any intake channel: validated, located and numbered, not yet added to the session
    (shared by citizen and supervisor reports, the hotline work order and the 12345 exchange)."""
    category = category if category is not None else _category(session, data.category_code)
    description = _description(data.description)
    location = geo_service.locate(session, lng=data.lng, lat=data.lat, coord=data.coord)
    now = utcnow()
    assert category.id is not None
    case = Case(
        case_no=next_case_no(session, channel=data.channel, day=to_local(now).date()),
        channel=data.channel,
        status=status,
        category_id=category.id,
        description=description,
        address=data.address.strip()[:MAX_ADDRESS],
        lng=location.lng,
        lat=location.lat,
        unit_grid_code=location.unit_grid,
        community_code=location.community.code,
        street_code=location.street.code,
        district_code=location.district.code,
        responsibility_grid_code=location.responsibility_grid.code if location.responsibility_grid else None,
        is_anonymous=data.anonymous,
        is_public=data.public,
        register_due_at=deadlines.work_hours_after(
            session, settings, now, settings.cases.register_limit_work_hours
        ),
    )
    return case


def _same_report(session: Session, existing: Case, data: ReportInput) -> Case:
    """A retry must be the same report: reusing a key for a different one is refused, not swallowed."""
    category = repository.category(session, existing.category_id)
    if (
        category is None
        or category.code != data.category_code
        or existing.description != data.description.strip()
    ):
        raise Invalid("idempotency_key_reused", "该请求标识已用于另一条上报，请为新的上报使用新的标识")
    return existing


def _check_report_rate(settings: Settings, checks: repository.ReportChecks) -> None:
    """Anti-abuse: a citizen files at most so many reports an hour and a day (points are at stake)."""
    limits = settings.rewards
    if (
        checks.citizen_last_hour >= limits.reports_per_citizen_per_hour
        or checks.citizen_last_day >= limits.reports_per_citizen_per_day
    ):
        raise RateLimited("report_rate_limited", "您上报得太频繁了，请稍后再试", retry_after=3600)


def device_hash(settings: Settings, device_id: str) -> str:
    """The keyed hash stored instead of a client's device identifier (refused when malformed).

    Keyed with the app secret, so the stored value cannot be matched against guessed identifiers; a new
    secret starts every device afresh (limits and the shared-device flag forget older reports).
    """
    if not DEVICE_ID.fullmatch(device_id):
        raise Invalid("invalid_device_id", "设备标识不正确，应为 8 到 128 个可打印 ASCII 字符")
    key = settings.app.secret_key.get_secret_value().encode()
    digest = hmac.new(key, f"device:{device_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:DEVICE_HASH_LENGTH]


def _check_device_rate(settings: Settings, checks: repository.ReportChecks) -> None:
    """Anti-abuse: one device files at most so many reports, whichever account it is logged in with."""
    limits = settings.rewards
    if (
        checks.device_last_hour >= limits.reports_per_device_per_hour
        or checks.device_last_day >= limits.reports_per_device_per_day
    ):
        raise RateLimited("device_rate_limited", "该设备上报得太频繁了，请稍后再试", retry_after=3600)


@dataclass(frozen=True)
class FiledReport:
    """A citizen's report as filed: the case, whether it is new, and what its reporter's view is built
    from when that is known without reading it back (a new case: its category and its one history row;
    None: read from the database)."""

    case: Case
    created: bool
    category: Category | None = None
    events: tuple[CaseEvent, ...] | None = None
    photos: tuple[CasePhoto, ...] | None = None


def report_by_citizen(
    session: Session,
    settings: Settings,
    *,
    citizen: Citizen,
    data: ReportInput,
    idempotency_key: str | None,
    device_id: str | None = None,
) -> tuple[Case, bool]:
    """A citizen's report. With an idempotency key, a retry returns the first case: (case, created).

    ``device_id`` is the client's raw device identifier (``X-Device-Id``); only its keyed hash is kept.
    Without one, only the per-citizen limit applies.
    """
    filed = file_report_by_citizen(
        session, settings, citizen=citizen, data=data, idempotency_key=idempotency_key, device_id=device_id
    )
    return filed.case, filed.created


def file_report_by_citizen(
    session: Session,
    settings: Settings,
    *,
    citizen: Citizen,
    data: ReportInput,
    idempotency_key: str | None,
    device_id: str | None = None,
) -> FiledReport:
    """``report_by_citizen``, also returning what the reporter's view of a new case is built from.

    The checks, in this order: the channel, the device identifier, the idempotency key (a retry returns
    the first case, whatever else changed since), the citizen's and the device's rate limits, the
    category, the description, the location. The key, the counts and the category are read in one
    statement of the request's transaction.
    """
    if data.channel not in CITIZEN_CHANNELS:
        raise Invalid("invalid_channel", "渠道不正确")
    device = device_hash(settings, device_id) if device_id is not None else None
    assert citizen.id is not None
    now = utcnow()
    checks = repository.report_checks(
        session,
        citizen_id=citizen.id,
        idempotency_key=idempotency_key,
        device=device,
        category_code=data.category_code,
        hour_ago=now - timedelta(hours=1),
        day_ago=now - timedelta(days=1),
    )
    if checks.existing_case_id is not None:
        return FiledReport(_same_report(session, _case(session, checks.existing_case_id), data), False)
    _check_report_rate(settings, checks)
    if device is not None:
        _check_device_rate(settings, checks)
    category = _checked_category(checks.category, data.category_code)
    case = new_case(session, settings, data, CaseStatus.PENDING, category=category)
    case.reporter_citizen_id = citizen.id
    case.reporter_phone = citizen.phone or ""
    case.reporter_device = device
    case.idempotency_key = idempotency_key
    if not repository.insert_report(session, case):
        # The same key was used by a concurrent request that committed first: answer with its case.
        existing = repository.by_idempotency_key(session, citizen.id, idempotency_key or "")
        if existing is None:  # cannot happen: the insert yields nothing only on that key's conflict
            raise RuntimeError("a report's insert conflicted on a key that no case holds")
        return FiledReport(_same_report(session, existing, data), False)
    event = record_event(session, case, action="report", actor=citizen, from_status=None, note="市民上报")
    if data.upload_ids:
        attach_photos(session, case, upload_ids=data.upload_ids, owner=citizen, stage=PhotoStage.REPORT)
    flush(session)
    # A new case has exactly this history; its photos are read back when there are any.
    return FiledReport(case, True, category=category, events=(event,), photos=None if data.upload_ids else ())


def _case(session: Session, case_id: int) -> Case:
    case = repository.case(session, case_id)
    if case is None:  # cannot happen: cases are never deleted and its id was just read
        raise CaseNotFound(str(case_id))
    return case


def report_by_supervisor(
    session: Session, settings: Settings, *, supervisor: StaffUser, data: ReportInput
) -> Case:
    """A supervisor's own report is verified by nature: it goes straight to registration (待立案)."""
    if supervisor.role is not StaffRole.SUPERVISOR:
        raise Forbidden("action_forbidden", "只有监督员可以上报案件")
    if not data.upload_ids:
        raise Invalid("photos_required", "监督员上报必须附现场照片")
    case = new_case(
        session,
        settings,
        ReportInput(**{**data.__dict__, "channel": Channel.SUPERVISOR}),
        CaseStatus.ACCEPTED,
    )
    case.reporter_staff_id = supervisor.id
    case.accepted_at = utcnow()
    session.add(case)
    flush(session)
    record_event(session, case, action="report", actor=supervisor, from_status=None, note="监督员上报")
    attach_photos(session, case, upload_ids=data.upload_ids, owner=supervisor, stage=PhotoStage.REPORT)
    flush(session)
    return case


def rate(
    session: Session, settings: Settings, *, citizen: Citizen, case_no: str, stars: int, comment: str
) -> Case:
    """The reporter rates a closed case, once, within the rating window."""
    case = get_case(session, case_no)
    if case.reporter_citizen_id != citizen.id:
        raise CaseNotFound(case_no)  # another citizen's case does not exist for this citizen
    if case.status is not CaseStatus.CLOSED or case.closed_at is None:
        raise Invalid("rating_not_open", "案件办结后才能评价")
    if case.rating is not None:
        raise Conflict("already_rated", "您已评价过该案件")
    if (utcnow() - case.closed_at).days > settings.cases.rating_window_days:
        raise Invalid("rating_window_closed", f"办结 {settings.cases.rating_window_days} 天后不再接受评价")
    if not 1 <= stars <= 5:
        raise Invalid("rating_invalid", "评分应为 1 到 5 星")
    case.rating, case.rating_comment, case.rated_at = stars, comment.strip()[:500], utcnow()
    session.add(case)
    record_event(session, case, action="rate", actor=citizen, from_status=case.status, note=f"{stars} 星")
    flush(session)
    return case
