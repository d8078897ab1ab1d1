"""Console pages: the case queues (待立案, 待派遣, 待处置 … 即将超期, 已超期, 全部案件).

Each queue lists only the cases this account may act on (``core.cases.queues``) within what it may
view (``core.cases.access``). Filters, sort order and the page live in the query string, so a URL can be
shared and back/forward works; the table is updated by htmx (``#queue-results``, the URL pushed), the
tabs' counts refresh by polling ``queue_counts``. Pages are keyset pages (``core.cases.listing``).
Malformed filters are a 422 page with a Chinese message; a queue the role does not have is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from admin.deps import SessionDep, SettingsDep, require
from admin.templating import ALL_BUT_SUPERVISOR, render
from core.cases import listing, repository
from core.cases import queues as case_queues
from core.cases.access import visible_condition
from core.cases.queues import Queue
from core.cases.workflow import STATUS_LABELS
from core.errors import Forbidden, Invalid
from core.kit.clock import utcnow
from core.models import CaseStatus, Channel, StaffUser
from core.settings import Settings

router = APIRouter()

QueueStaff = Annotated[StaffUser, Depends(require(*ALL_BUT_SUPERVISOR))]

COUNT_CAP = 1000  # counts stop there: "1000+" (a count is a bounded scan, whatever the table's size)
RESULTS_TARGET = "queue-results"

CHANNEL_LABELS: dict[Channel, str] = {
    Channel.SUPERVISOR: "监督员上报",
    Channel.MINIPROGRAM: "小程序",
    Channel.APP: "APP",
    Channel.WEB: "网站",
    Channel.HOTLINE: "热线",
    Channel.GOV12345: "12345",
    Channel.VIDEO: "视频",
    Channel.REFERRAL: "上级转办",
    Channel.OPEN311: "Open311",
}

STATUS_BADGES: dict[CaseStatus, str] = {
    CaseStatus.PENDING: "blue",
    CaseStatus.VERIFYING: "blue",
    CaseStatus.ACCEPTED: "blue",
    CaseStatus.REGISTERED: "blue",
    CaseStatus.DISPATCHED: "orange",
    CaseStatus.SUSPENDED: "",
    CaseStatus.HANDLED: "green",
    CaseStatus.CHECKING: "green",
    CaseStatus.CLOSED: "green",
    CaseStatus.VOIDED: "",
    CaseStatus.MERGED: "",
}


class UnknownQueue(Invalid):
    def __init__(self) -> None:
        super().__init__("unknown_queue", "队列不存在")


class QueueForbidden(Forbidden):
    def __init__(self, queue: Queue) -> None:
        super().__init__("queue_forbidden", f"您的角色没有“{queue.label}”队列")


def default_sort(queue: Queue) -> tuple[listing.Sort, listing.Direction]:
    """Work queues: the most urgent first; all cases: the newest first."""
    if queue is Queue.ALL:
        return listing.Sort.REPORTED, listing.Direction.DESC
    return listing.Sort.DEADLINE, listing.Direction.ASC


def _queue(request: Request, user: StaffUser) -> Queue:
    mine = case_queues.queues_of(user)
    raw = (request.query_params.get("queue") or "").strip()
    if not raw:
        return mine[0]
    try:
        queue = Queue(raw)
    except ValueError:
        raise UnknownQueue() from None
    if queue not in mine:
        raise QueueForbidden(queue)
    return queue


@dataclass(frozen=True)
class Tab:
    queue: Queue
    count: int
    url: str

    @property
    def count_text(self) -> str:
        return f"{COUNT_CAP}+" if self.count > COUNT_CAP else str(self.count)


def _path(request: Request, path: str, params: dict[str, str]) -> str:
    root = request.scope.get("root_path", "")
    return f"{root}{path}?{urlencode(params)}" if params else f"{root}{path}"


def _filter_params(criteria: listing.Criteria) -> dict[str, str]:
    """The filters without the sort order (each queue has its own default order)."""
    return {k: v for k, v in criteria.params().items() if k not in ("sort", "dir")}


def _tabs(
    request: Request,
    session: Session,
    settings: Settings,
    user: StaffUser,
    criteria: listing.Criteria,
    now: datetime,
) -> list[Tab]:
    mine = case_queues.queues_of(user)
    window = (now, case_queues.due_soon_until(session, settings, now))
    counts = case_queues.counts(session, user, mine, window=window, cap=COUNT_CAP)
    filters = _filter_params(criteria)
    return [Tab(q, counts[q], _path(request, "/cases", {"queue": q.value, **filters})) for q in mine]


def _remaining(deadline: datetime | None, now: datetime, soon_until: datetime) -> tuple[str, str]:
    """("剩余 3小时20分" | "超期 1天2小时", css class) of a deadline."""
    if deadline is None:
        return "", ""
    if deadline < now:
        return f"超期 {_duration(now - deadline)}", "overdue"
    return f"剩余 {_duration(deadline - now)}", "soon" if deadline < soon_until else ""


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes}分"
    return f"{minutes}分钟"


def _view(
    request: Request, session: Session, settings: Settings, user: StaffUser
) -> tuple[dict[str, Any], str]:
    """The page's context and its canonical URL."""
    queue = _queue(request, user)
    params = request.query_params
    criteria = listing.Criteria.parse(params, default_sort=default_sort(queue))
    after_text, before_text = params.get("after") or "", params.get("before") or ""
    if after_text and before_text:
        raise Invalid("bad_cursor", "翻页参数无效，请回到第一页")
    after = listing.Cursor.parse(after_text, criteria.sort) if after_text else None
    before = listing.Cursor.parse(before_text, criteria.sort) if before_text else None

    now = utcnow()
    soon_until = case_queues.due_soon_until(session, settings, now)
    window = (now, soon_until)
    conditions = [
        case_queues.condition_for(user, queue, window=window),
        visible_condition(session, user),
        *listing.filter_conditions(session, criteria),
    ]
    found = listing.page(
        session,
        conditions,
        sort=criteria.sort,
        direction=criteria.direction,
        limit=settings.console.page_size,
        after=after,
        before=before,
    )
    tabs = _tabs(request, session, settings, user, criteria, now)
    current = next(tab for tab in tabs if tab.queue is queue)
    base = {"queue": queue.value, **criteria.params()}
    rows = []
    for row in found.rows:
        remaining, remaining_class = _remaining(row.deadline, now, soon_until)
        rows.append(
            {
                "row": row,
                "href": f"{request.scope.get('root_path', '')}/cases/{row.case_no}",
                "status_label": STATUS_LABELS[row.status],
                "status_badge": STATUS_BADGES[row.status],
                "remaining": remaining,
                "remaining_class": remaining_class,
            }
        )
    cursor_param = {"after": after_text} if after else {"before": before_text} if before else {}
    context = {
        "title": f"案件队列 · {queue.label}",
        "queue": queue,
        "tabs": tabs,
        "current": current,
        "criteria": criteria,
        "rows": rows,
        "page_path": _path(request, "/cases", {}),
        "counts_url": _path(request, "/queue-counts", {"queue": queue.value, **_filter_params(criteria)}),
        "clear_url": _path(request, "/cases", {"queue": queue.value}),
        "first_url": _path(request, "/cases", base) if found.previous else "",
        "next_url": _path(request, "/cases", {**base, "after": found.next.encode()}) if found.next else "",
        "prev_url": _path(request, "/cases", {**base, "before": found.previous.encode()})
        if found.previous
        else "",
        "categories": listing.category_choices(session),
        "areas": listing.area_choices(session, repository.area_code(session, user.area_id)),
        "departments": listing.department_choices(session),
        "channels": CHANNEL_LABELS,
        "sorts": list(listing.Sort),
        "directions": list(listing.Direction),
        "refresh_s": settings.console.counts_refresh_s,
    }
    return context, _path(request, "/cases", {**base, **cursor_param})


def _is_fragment(request: Request) -> bool:
    """An htmx update of the results (not a history restore, which needs the whole page)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Target") == RESULTS_TARGET
        and headers.get("HX-History-Restore-Request") != "true"
    )


@router.get("/cases", response_class=HTMLResponse, name="queues")
def queues_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: QueueStaff
) -> HTMLResponse:
    context, canonical = _view(request, session, settings, user)
    if _is_fragment(request):
        response = render(request, "queues/results.html", {**context, "oob": True})
        response.headers["HX-Push-Url"] = canonical
        return response
    return render(request, "queues/page.html", context)


@router.get("/queue-counts", response_class=HTMLResponse, name="queue_counts")
def queue_counts(
    request: Request, session: SessionDep, settings: SettingsDep, user: QueueStaff
) -> HTMLResponse:
    queue = _queue(request, user)
    criteria = listing.Criteria.parse(request.query_params, default_sort=default_sort(queue))
    tabs = _tabs(request, session, settings, user, criteria, utcnow())
    return render(
        request,
        "queues/tabs.html",
        {
            "queue": queue,
            "tabs": tabs,
            "counts_url": _path(request, "/queue-counts", {"queue": queue.value, **_filter_params(criteria)}),
            "refresh_s": settings.console.counts_refresh_s,
        },
    )
