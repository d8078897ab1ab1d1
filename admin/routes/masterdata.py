"""Console pages: master data (administrators and leaders view; only administrators change).

Tabs: import/export (every kind through ``core.masterdata.service.import_file``, all-or-nothing, and
export in exactly the import format), categories with their register standards, departments, routing
rules, grids, places, the reward catalogue and redemptions, and the calendar overrides.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from admin.deps import AdminDep, SessionDep, SettingsDep, client_ip, require
from admin.templating import render
from core.audit import service as audit
from core.calendar import repository as calendar_repository
from core.calendar import service as calendar_service
from core.errors import DomainError
from core.kit.clock import to_local, utcnow
from core.masterdata import browse
from core.masterdata.errors import ImportFailed
from core.masterdata.export import export_kind
from core.masterdata.overview import master_data_counts
from core.masterdata.service import KINDS, KINDS_BY_NAME, import_file
from core.models import PlaceKind, RedemptionStatus, StaffRole, StaffUser
from core.models.rewards import RewardItemKind
from core.rewards import catalogue
from core.rewards import service as rewards

router = APIRouter(prefix="/masterdata")

ViewerDep = Annotated[StaffUser, Depends(require(StaffRole.ADMIN, StaffRole.LEADER))]

UPLOAD_LIMIT = 20 * 1024 * 1024
PAGE_SIZE = 50
SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]")

TABS: tuple[tuple[str, str], ...] = (
    ("masterdata", "导入导出"),
    ("masterdata_categories", "案件类别"),
    ("masterdata_departments", "专业部门"),
    ("masterdata_routing", "派遣规则"),
    ("masterdata_grids", "网格"),
    ("masterdata_places", "便民设施"),
    ("masterdata_rewards", "积分商品"),
    ("masterdata_redemptions", "兑换记录"),
    ("masterdata_calendar", "节假日"),
)


# --------------------------------------------------------------------------- uploads (shared)


@dataclass(frozen=True)
class Upload:
    name: str  # the file's own name, without folders
    content: bytes
    sha256: str


class UploadRefused(Exception):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"


def read_upload(file: UploadFile | None, *, suffixes: tuple[str, ...], limit: int = UPLOAD_LIMIT) -> Upload:
    """The uploaded file, or ``UploadRefused`` with a Chinese message (no file, wrong type, too big)."""
    if file is None or not file.filename:
        raise UploadRefused("请选择要上传的文件")
    name = PurePosixPath(file.filename.replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in suffixes:
        wanted = "、".join(suffixes)
        raise UploadRefused(f"文件类型不对：“{name}”不是 {wanted} 文件，请选择正确的文件", 415)
    if file.size is not None and file.size > limit:
        raise UploadRefused(f"文件太大（上限 {_megabytes(limit)}）", 413)
    content = file.file.read(limit + 1)
    if len(content) > limit:
        raise UploadRefused(f"文件太大（上限 {_megabytes(limit)}）", 413)
    if not content:
        raise UploadRefused(f"文件“{name}”是空的")
    return Upload(name=name, content=content, sha256=hashlib.sha256(content).hexdigest())


def _safe_file_name(name: str, suffix: str) -> str:
    stem = SAFE_NAME.sub("_", PurePosixPath(name).stem)[:80] or "upload"
    return f"{stem}{suffix}"


# --------------------------------------------------------------------------- page helpers


def _page(
    request: Request, template: str, tab: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    user: StaffUser | None = getattr(request.state, "user", None)
    return render(
        request,
        template,
        {"tabs": TABS, "tab": tab, "is_admin": user is not None and user.role is StaffRole.ADMIN, **context},
        status_code=status,
    )


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    if re.fullmatch(r"[+-]?\d{1,9}", value):
        return int(value)
    return None


def _mask(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else ("****" if phone else "")


def _redirect(request: Request, route: str, **query: str) -> RedirectResponse:
    url = str(request.url_for(route))
    if query:
        url += "?" + urlencode(query)
    return RedirectResponse(url, status_code=303)


# --------------------------------------------------------------------------- import and export


def _overview(session: Session) -> dict[str, Any]:
    return {
        "kinds": KINDS,
        "last_imports": browse.last_imports(session),
        "counts": master_data_counts(session),
        "upload_limit": _megabytes(UPLOAD_LIMIT),
        "suffixes": {kind.name: _suffixes(kind.name) for kind in KINDS},
    }


def _suffixes(kind_name: str) -> tuple[str, ...]:
    suffixes: list[str] = []
    for file_name in KINDS_BY_NAME[kind_name].file_names:
        suffix = PurePosixPath(file_name).suffix
        suffixes.append(suffix)
        if suffix == ".geojson":
            suffixes.append(".json")
    return tuple(dict.fromkeys(suffixes))


@router.get("", response_class=HTMLResponse, name="masterdata")
def overview(request: Request, session: SessionDep, user: ViewerDep) -> HTMLResponse:
    return _page(request, "masterdata/overview.html", "masterdata", _overview(session))


@router.post("/import", response_class=HTMLResponse, name="masterdata_import")
def import_upload(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    kind: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    context = _overview(session)
    selected = KINDS_BY_NAME.get(kind)
    if selected is None:
        return _page(
            request,
            "masterdata/overview.html",
            "masterdata",
            {**context, "error": "请选择数据类型"},
            status=422,
        )
    context["selected"] = selected
    try:
        upload = read_upload(file, suffixes=_suffixes(selected.name))
    except UploadRefused as exc:
        return _page(
            request,
            "masterdata/overview.html",
            "masterdata",
            {**context, "error": exc.message},
            status=exc.status,
        )
    suffix = PurePosixPath(upload.name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="zhcg-upload-") as folder:
        path = Path(folder) / _safe_file_name(upload.name, suffix)
        path.write_bytes(upload.content)
        try:
            result = import_file(session, selected.name, path)
        except ImportFailed as exc:
            audit.record(
                session,
                actor=user,
                action="masterdata_import_failed",
                target_kind="masterdata",
                target_id=selected.name,
                detail={
                    "kind": selected.name,
                    "file": upload.name,
                    "sha256": upload.sha256,
                    "errors": len(exc.errors),
                },
                client_ip=client_ip(request),
            )
            return _page(
                request,
                "masterdata/overview.html",
                "masterdata",
                {
                    **context,
                    "error": f"“{upload.name}”未导入，未写入任何数据。请修改以下问题后重新上传。",
                    "errors": exc.errors,
                    "omitted": exc.details.get("omitted", 0),
                },
                status=422,
            )
    stats = result.stats
    unchanged = stats.rows - stats.created - stats.updated
    audit.record(
        session,
        actor=user,
        action="masterdata_import",
        target_kind="masterdata",
        target_id=selected.name,
        detail={
            "kind": selected.name,
            "file": upload.name,
            "sha256": upload.sha256,
            "rows": stats.rows,
            "created": stats.created,
            "updated": stats.updated,
            "unchanged": unchanged,
        },
        client_ip=client_ip(request),
    )
    return _page(
        request,
        "masterdata/overview.html",
        "masterdata",
        {
            **_overview(session),
            "selected": selected,
            "imported": {
                "file": upload.name,
                "sha256": upload.sha256,
                "stats": stats,
                "unchanged": unchanged,
            },
        },
    )


@router.get("/export/{kind}", name="masterdata_export")
def export(request: Request, session: SessionDep, user: ViewerDep, kind: str, format: str = "") -> Response:
    exported = export_kind(session, kind, geojson=format == "geojson")
    audit.record(
        session,
        actor=user,
        action="masterdata_exported",
        target_kind="masterdata",
        target_id=kind[:32],
        detail={"kind": kind[:32], "file": exported.file_name, "rows": exported.rows},
        client_ip=client_ip(request),
    )
    return Response(
        exported.text.encode("utf-8"),
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.file_name}"'},
    )


# --------------------------------------------------------------------------- view tabs


@router.get("/categories", response_class=HTMLResponse, name="masterdata_categories")
def categories(request: Request, session: SessionDep, user: ViewerDep) -> HTMLResponse:
    return _page(
        request, "masterdata/categories.html", "masterdata_categories", {"rows": browse.categories(session)}
    )


@router.get("/departments", response_class=HTMLResponse, name="masterdata_departments")
def departments(request: Request, session: SessionDep, user: ViewerDep) -> HTMLResponse:
    return _page(
        request,
        "masterdata/departments.html",
        "masterdata_departments",
        {"rows": browse.departments(session)},
    )


@router.get("/routing", response_class=HTMLResponse, name="masterdata_routing")
def routing(request: Request, session: SessionDep, user: ViewerDep) -> HTMLResponse:
    return _page(request, "masterdata/routing.html", "masterdata_routing", {"rows": browse.routing(session)})


@router.get("/grids", response_class=HTMLResponse, name="masterdata_grids")
def grids(request: Request, session: SessionDep, user: ViewerDep) -> HTMLResponse:
    return _page(
        request,
        "masterdata/grids.html",
        "masterdata_grids",
        {"communities": browse.grid_counts(session), "responsibility": browse.responsibility_grids(session)},
    )


@router.get("/places", response_class=HTMLResponse, name="masterdata_places")
def places(
    request: Request,
    session: SessionDep,
    user: ViewerDep,
    kind: str = "",
    q: str = "",
    active: str = "",
    operator: str = "",
    page: int = 1,
) -> HTMLResponse:
    page = max(1, min(page, 10_000))
    place_kind = PlaceKind(kind) if kind in {k.value for k in PlaceKind} else None
    where = browse.PlaceFilter(
        kind=place_kind,
        text=q[:64],
        active={"1": True, "0": False}.get(active),
        operator_id=_int(operator),
    )
    rows, total = browse.places(session, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    filters = {"kind": kind, "q": q[:64], "active": active, "operator": operator}
    base = {k: v for k, v in filters.items() if v}
    operators = browse.operators(session)
    return _page(
        request,
        "masterdata/places.html",
        "masterdata_places",
        {
            "rows": rows,
            "total": total,
            "filters": filters,
            "kinds": list(PlaceKind),
            "operators": operators,
            "operator_names": {o.id: o.name for o in operators},
            "page": page,
            "prev_link": "?" + urlencode({**base, "page": page - 1}) if page > 1 else "",
            "next_link": "?" + urlencode({**base, "page": page + 1}) if page * PAGE_SIZE < total else "",
        },
    )


# --------------------------------------------------------------------------- reward catalogue


def _rewards_page(request: Request, session: Session, *, status: int = 200, **extra: Any) -> HTMLResponse:
    return _page(
        request,
        "masterdata/rewards.html",
        "masterdata_rewards",
        {
            "items": catalogue.all_items(session),
            "item_kinds": list(RewardItemKind),
            "kind_labels": catalogue.KIND_LABELS,
            **extra,
        },
        status=status,
    )


@router.get("/rewards", response_class=HTMLResponse, name="masterdata_rewards")
def reward_items(request: Request, session: SessionDep, user: ViewerDep, notice: str = "") -> HTMLResponse:
    notices = {"added": "商品已添加", "saved": "商品已保存", "stock": "库存已调整"}
    return _rewards_page(request, session, notice=notices.get(notice, ""))


def _item_data(name: str, kind: str, points_cost: str, active: str) -> catalogue.ItemData:
    try:
        item_kind = RewardItemKind(kind)
    except ValueError:
        from core.errors import Invalid

        raise Invalid("reward_item_kind_invalid", "请选择商品类型") from None
    cost = _int(points_cost)
    return catalogue.ItemData(
        name=name[:200], kind=item_kind, points_cost=cost if cost is not None else 0, active=bool(active)
    )


@router.post("/rewards", response_class=HTMLResponse, name="masterdata_reward_add")
def reward_add(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    points_cost: Annotated[str, Form()] = "",
    stock: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "code": code[:64],
        "name": name[:200],
        "kind": kind,
        "points_cost": points_cost[:12],
        "stock": stock[:12],
    }
    try:
        stock_value = _int(stock)
        item = catalogue.add_item(
            session,
            code=code[:64],
            data=_item_data(name, kind, points_cost, active),
            stock=stock_value if stock_value is not None else -1,
        )
    except DomainError as exc:
        return _rewards_page(
            request,
            session,
            status=422 if exc.code != "reward_item_code_taken" else 409,
            add_error=exc.message,
            values=values,
        )
    audit.record(
        session,
        actor=user,
        action="reward_item_created",
        target_kind="reward_item",
        target_id=item.id,
        detail={"code": item.code, "points_cost": item.points_cost, "stock": item.stock},
        client_ip=client_ip(request),
    )
    return _redirect(request, "masterdata_rewards", notice="added")


@router.post("/rewards/{item_id:int}", response_class=HTMLResponse, name="masterdata_reward_edit")
def reward_edit(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    item_id: int,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    points_cost: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    item = catalogue.get_item(session, item_id)
    try:
        changed = catalogue.edit_item(session, item, _item_data(name, kind, points_cost, active))
    except DomainError as exc:
        session.refresh(item)
        return _rewards_page(request, session, status=422, item_error=exc.message, error_item=item_id)
    if changed:
        audit.record(
            session,
            actor=user,
            action="reward_item_updated",
            target_kind="reward_item",
            target_id=item.id,
            detail={"changed": changed},
            client_ip=client_ip(request),
        )
    return _redirect(request, "masterdata_rewards", notice="saved")


@router.post("/rewards/{item_id:int}/stock", response_class=HTMLResponse, name="masterdata_reward_stock")
def reward_stock(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    item_id: int,
    delta: Annotated[str, Form()] = "",
) -> Response:
    item = catalogue.get_item(session, item_id)
    amount = _int(delta)
    try:
        stock = catalogue.adjust_stock(session, item, amount if amount is not None else 0)
    except DomainError as exc:
        return _rewards_page(
            request,
            session,
            status=422 if exc.code != "reward_stock_negative" else 409,
            item_error=exc.message,
            error_item=item_id,
        )
    audit.record(
        session,
        actor=user,
        action="reward_stock_adjusted",
        target_kind="reward_item",
        target_id=item.id,
        detail={"delta": amount, "stock": stock},
        client_ip=client_ip(request),
    )
    return _redirect(request, "masterdata_rewards", notice="stock")


# --------------------------------------------------------------------------- redemptions


def _redemptions_page(
    request: Request,
    session: Session,
    user: StaffUser,
    *,
    status_filter: str,
    page: int,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    wanted = RedemptionStatus(status_filter) if status_filter in {s.value for s in RedemptionStatus} else None
    rows, total = catalogue.redemptions(
        session, status=wanted, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    base = {"status": status_filter} if status_filter else {}
    return _page(
        request,
        "masterdata/redemptions.html",
        "masterdata_redemptions",
        {
            "rows": rows,
            "total": total,
            "status_filter": status_filter,
            "statuses": catalogue.STATUS_LABELS,
            "may_decide": user.role in rewards.STAFF_WHO_DECIDE,
            "mask": _mask,
            "page": page,
            "prev_link": "?" + urlencode({**base, "page": page - 1}) if page > 1 else "",
            "next_link": "?" + urlencode({**base, "page": page + 1}) if page * PAGE_SIZE < total else "",
            **extra,
        },
        status=status,
    )


@router.get("/redemptions", response_class=HTMLResponse, name="masterdata_redemptions")
def redemptions(
    request: Request,
    session: SessionDep,
    user: ViewerDep,
    status: str = "pending",
    page: int = 1,
    notice: str = "",
) -> HTMLResponse:
    notices = {"fulfilled": "已标记为发放", "refunded": "已退回积分"}
    return _redemptions_page(
        request,
        session,
        user,
        status_filter=status,
        page=max(1, min(page, 10_000)),
        notice=notices.get(notice, ""),
    )


@router.post("/redemptions/{redemption_id:int}/{decision}", name="masterdata_redemption_decide")
def redemption_decide(
    request: Request, session: SessionDep, user: AdminDep, redemption_id: int, decision: str
) -> Response:
    if decision == "fulfil":
        redemption = rewards.fulfil(session, staff=user, redemption_id=redemption_id)
        action, notice = "redemption_fulfilled", "fulfilled"
    elif decision == "refund":
        redemption = rewards.refund(session, staff=user, redemption_id=redemption_id)
        action, notice = "redemption_refunded", "refunded"
    else:
        from core.errors import NotFound

        raise NotFound("page_not_found", "页面不存在")
    audit.record(
        session,
        actor=user,
        action=action,
        target_kind="redemption",
        target_id=redemption.id,
        detail={"points": redemption.points},
        client_ip=client_ip(request),
    )
    return _redirect(request, "masterdata_redemptions", notice=notice)


# --------------------------------------------------------------------------- calendar overrides


def _calendar_page(
    request: Request, session: Session, settings: Any, *, year: int | None, status: int = 200, **extra: Any
) -> HTMLResponse:
    today = to_local(utcnow()).date()
    shown = (
        year
        if year is not None
        and calendar_service.FIRST_SUPPORTED_YEAR <= year <= calendar_service.LAST_SUPPORTED_YEAR
        else today.year
    )
    calendar = calendar_service.get_calendar(session, settings, max_age_s=0)
    entered = {record.year: record for record in calendar_repository.all_years(session)}
    days = [day for day in calendar_repository.all_days(session) if day.day.year == shown]
    years = sorted(
        {
            today.year,
            today.year + 1,
            shown,
            *entered,
            *(d.day.year for d in calendar_repository.all_days(session)),
        }
    )
    return _page(
        request,
        "masterdata/calendar.html",
        "masterdata_calendar",
        {
            "year": shown,
            "days": days,
            "years": [
                {"year": y, "source": calendar.year_source(y).value, "entered": entered.get(y)} for y in years
            ],
            "warnings": calendar_service.warnings_for(session, today=today, settings=settings),
            "entered": entered.get(shown),
            **extra,
        },
        status=status,
    )


@router.get("/calendar", response_class=HTMLResponse, name="masterdata_calendar")
def calendar_view(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ViewerDep,
    year: str = "",
    notice: str = "",
) -> HTMLResponse:
    notices = {
        "set": "已保存该日期",
        "removed": "已删除该日期",
        "marked": "已确认该年安排录入完整",
        "unmarked": "已取消确认",
    }
    return _calendar_page(request, session, settings, year=_int(year), notice=notices.get(notice, ""))


@router.post("/calendar/days", response_class=HTMLResponse, name="masterdata_calendar_set")
def calendar_set(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminDep,
    day: Annotated[str, Form()] = "",
    is_workday: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        return _calendar_page(
            request,
            session,
            settings,
            year=None,
            status=422,
            error="请填写正确的日期（YYYY-MM-DD）",
            values={"day": day[:20], "name": name[:64], "is_workday": is_workday},
        )
    if is_workday not in {"0", "1"}:
        return _calendar_page(
            request,
            session,
            settings,
            year=parsed.year,
            status=422,
            error="请选择放假或调休上班",
            values={"day": day[:20], "name": name[:64], "is_workday": is_workday},
        )
    try:
        row, created = calendar_service.set_day(
            session, day=parsed, is_workday=is_workday == "1", name=name[:200]
        )
    except DomainError as exc:
        return _calendar_page(
            request,
            session,
            settings,
            year=parsed.year,
            status=422,
            error=exc.message,
            values={"day": day[:20], "name": name[:64], "is_workday": is_workday},
        )
    audit.record(
        session,
        actor=user,
        action="calendar_day_set",
        target_kind="calendar_day",
        target_id=parsed.isoformat(),
        detail={"is_workday": row.is_workday, "name": row.name, "new": created},
        client_ip=client_ip(request),
    )
    return _redirect(request, "masterdata_calendar", year=str(parsed.year), notice="set")


@router.post("/calendar/days/{day}/remove", name="masterdata_calendar_remove")
def calendar_remove(request: Request, session: SessionDep, user: AdminDep, day: str) -> Response:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        from core.errors import NotFound

        raise NotFound("calendar_day_not_found", "日期不正确") from None
    calendar_service.remove_day(session, day=parsed)
    audit.record(
        session,
        actor=user,
        action="calendar_day_removed",
        target_kind="calendar_day",
        target_id=parsed.isoformat(),
        client_ip=client_ip(request),
    )
    return _redirect(request, "masterdata_calendar", year=str(parsed.year), notice="removed")


@router.post("/calendar/years/{year:int}", name="masterdata_calendar_year")
def calendar_year(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    year: int,
    entered: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
) -> Response:
    if entered == "1":
        calendar_service.mark_year_entered(
            session, year=year, source=source.strip()[:256] or "控制台录入", entered_by=user.username
        )
        action, notice = "calendar_year_marked", "marked"
    else:
        calendar_service.unmark_year(session, year=year)
        action, notice = "calendar_year_unmarked", "unmarked"
    audit.record(
        session,
        actor=user,
        action=action,
        target_kind="calendar_year",
        target_id=year,
        detail={"source": source.strip()[:200]} if entered == "1" else {},
        client_ip=client_ip(request),
    )
    return _redirect(request, "masterdata_calendar", year=str(year), notice=notice)
