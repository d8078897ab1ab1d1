"""New cases: citizens' reports (idempotent) and supervisors' reports (监督员上报)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.cases import deadlines, repository
from core.cases.errors import CaseNotFound
from core.cases.numbers import next_case_no
from core.cases.service import attach_photos, flush, get_case, record_event
from core.errors import Conflict, Forbidden, Invalid, RateLimited
from core.geo import service as geo_service
from core.geo.coords import CoordSystem
from core.kit.clock import to_local, utcnow
from core.models import Case, CaseStatus, Category, Channel, Citizen, PhotoStage, StaffRole, StaffUser
from core.settings import Settings

MIN_DESCRIPTION = 5
MAX_DESCRIPTION = 1000
MAX_ADDRESS = 256
CITIZEN_CHANNELS = frozenset({Channel.MINIPROGRAM, Channel.APP, Channel.WEB})


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
    category = repository.category_by_code(session, code)
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


def _new_case(session: Session, settings: Settings, data: ReportInput, status: CaseStatus) -> Case:
    category = _category(session, data.category_code)
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


def _check_report_rate(session: Session, settings: Settings, citizen_id: int) -> None:
    """Anti-abuse: a citizen files at most so many reports an hour and a day (points are at stake)."""
    now = utcnow()
    limits = settings.rewards
    if repository.reports_by_citizen_since(session, citizen_id, now - timedelta(hours=1)) >= (
        limits.reports_per_citizen_per_hour
    ) or repository.reports_by_citizen_since(session, citizen_id, now - timedelta(days=1)) >= (
        limits.reports_per_citizen_per_day
    ):
        raise RateLimited("report_rate_limited", "您上报得太频繁了，请稍后再试", retry_after=3600)


def report_by_citizen(
    session: Session, settings: Settings, *, citizen: Citizen, data: ReportInput, idempotency_key: str | None
) -> tuple[Case, bool]:
    """A citizen's report. With an idempotency key, a retry returns the first case: (case, created)."""
    if data.channel not in CITIZEN_CHANNELS:
        raise Invalid("invalid_channel", "渠道不正确")
    assert citizen.id is not None
    if idempotency_key:
        existing = repository.by_idempotency_key(session, citizen.id, idempotency_key)
        if existing is not None:
            return _same_report(session, existing, data), False
    _check_report_rate(session, settings, citizen.id)
    case = _new_case(session, settings, data, CaseStatus.PENDING)
    case.reporter_citizen_id = citizen.id
    case.reporter_phone = citizen.phone or ""
    case.idempotency_key = idempotency_key
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:
        # The same key was used by a concurrent request that committed first: answer with its case.
        if idempotency_key:
            existing = repository.by_idempotency_key(session, citizen.id, idempotency_key)
            if existing is not None:
                return _same_report(session, existing, data), False
        raise
    record_event(session, case, action="report", actor=citizen, from_status=None, note="市民上报")
    if data.upload_ids:
        attach_photos(session, case, upload_ids=data.upload_ids, owner=citizen, stage=PhotoStage.REPORT)
    flush(session)
    return case, True


def report_by_supervisor(
    session: Session, settings: Settings, *, supervisor: StaffUser, data: ReportInput
) -> Case:
    """A supervisor's own report is verified by nature: it goes straight to registration (待立案)."""
    if supervisor.role is not StaffRole.SUPERVISOR:
        raise Forbidden("action_forbidden", "只有监督员可以上报案件")
    if not data.upload_ids:
        raise Invalid("photos_required", "监督员上报必须附现场照片")
    case = _new_case(
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
