"""Console pages: 热线来电 — the agent's screen-pop (server-sent events), the call's disposition (work
order, enquiry, link to a case) and the service levels (服务水平, GB/T 33358) with an Excel export.

- ``GET /hotline``: the agent's page; it opens an ``EventSource`` on ``GET /hotline/events``.
- ``GET /hotline/events``: ``text/event-stream``; an ``event: call`` (``id`` = the call id) for each
  call connected to the signed-in agent (``core.calls.notify``: Redis pub/sub when configured, else
  the database every 0.15 s); a heartbeat comment every 15 s; ``event: end`` and the end of the stream
  when the console session ends (signed out, expired, account disabled).
- ``GET /hotline/calls/{id}``: the pop (a fragment for htmx, a page otherwise); the POSTs dispose of it.
- ``GET /hotline/tasks``: the call-back and follow-up tasks (回拨/回访任务, ``core.calls.tasks``), with
  立即回拨 / 取消 / 标记已处理 (audited ``call_task_*``) and the full number on request (``view_phone``).

Operators, shift leads and admins take calls (an operator only handles the calls they answered);
the full caller number is shown to these roles (the call is theirs: not audited as a phone view).
Every disposition is audited. Service levels: shift leads, leaders, admins.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date, datetime, timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from admin.deps import SessionDep, SettingsDep, client_ip, require
from admin.errors import STATUS_BY_KIND
from admin.export import Cell, xlsx_response
from admin.security import SESSION_COOKIE
from admin.templating import render
from core.audit.service import record
from core.calls import notify, workorder
from core.calls import tasks as calltasks
from core.calls.service_levels import GroupBy, LevelRow, service_levels
from core.cases.console import mask_phone
from core.errors import Conflict, Invalid
from core.kit.clock import SHANGHAI, to_local, utcnow
from core.models import StaffRole, StaffUser
from core.models.calls import Call, CallTask, CallTaskKind, CallTaskStatus
from core.settings import Settings
from core.staff import sessions

router = APIRouter()
log = logging.getLogger("zhcg.admin.hotline")

Agent = Annotated[StaffUser, Depends(require(StaffRole.OPERATOR, StaffRole.SHIFT_LEAD, StaffRole.ADMIN))]
LevelViewer = Annotated[StaffUser, Depends(require(StaffRole.SHIFT_LEAD, StaffRole.LEADER, StaffRole.ADMIN))]

HEARTBEAT_S = 15.0
SESSION_CHECK_S = 2.0  # how soon a stream notices its session ended
RECENT_S = 60  # a call answered this long before the stream opened still pops (a page reload)
MAX_PERIOD_DAYS = 366


# --- the agent's page and its event stream --------------------------------------------------------


@router.get("/hotline", name="hotline", response_class=HTMLResponse)
def hotline_page(request: Request, user: Agent) -> HTMLResponse:
    return render(
        request,
        "hotline/index.html",
        {
            "title": "热线来电",
            "agent_interface": user.agent_interface,
            "may_see_levels": user.role in {StaffRole.SHIFT_LEAD, StaffRole.ADMIN},
        },
    )


def _tick(
    engine: Engine,
    settings: Settings,
    token: str,
    staff_id: int,
    since: datetime,
    seen: set[int],
    *,
    check_session: bool,
    read_calls: bool,
) -> tuple[bool, list[int]]:
    """(the session is still alive, the ids of the calls to pop). Read-only: never commits."""
    with Session(engine, expire_on_commit=False) as session:
        if check_session and sessions.active(session, settings, token) is None:
            return False, []
        if not read_calls:
            return True, []
        pops = notify.new_pops(session, staff_id=staff_id, since=since, seen=seen)
        return True, [call.id for call in pops if call.id is not None]


def _event(name: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(
    request: Request, engine: Engine, settings: Settings, token: str, staff_id: int
) -> AsyncIterator[str]:
    listener = await notify.listener(settings, staff_id)
    loop = asyncio.get_running_loop()
    since = utcnow() - timedelta(seconds=RECENT_S)
    seen: set[int] = set()
    last_heartbeat = last_session_check = last_read = loop.time()
    read_calls = True  # the first tick reads what is already connected
    try:
        yield "retry: 3000\n: 已连接\n\n"
        while True:
            now = loop.time()
            check_session = now - last_session_check >= SESSION_CHECK_S
            if now - last_read >= listener.interval_s:
                read_calls = True
            if check_session or read_calls:
                alive, pops = await run_in_threadpool(
                    _tick,
                    engine,
                    settings,
                    token,
                    staff_id,
                    since,
                    seen,
                    check_session=check_session,
                    read_calls=read_calls,
                )
                if check_session:
                    last_session_check = now
                if read_calls:
                    last_read = now
                if not alive:
                    yield _event("end", {"message": "登录已失效，请重新登录"})
                    return
                for call_id in pops:
                    seen.add(call_id)
                    url = str(request.url_for("hotline_call", call_id=call_id))
                    yield _event("call", {"id": call_id, "url": url}, call_id)
            if now - last_heartbeat >= HEARTBEAT_S:
                last_heartbeat = now
                yield ": heartbeat\n\n"
            if await request.is_disconnected():
                return
            read_calls = await listener.wait(min(SESSION_CHECK_S, HEARTBEAT_S))
    finally:
        await listener.close()


@router.get("/hotline/events", name="hotline_events")
async def hotline_events(request: Request, user: Agent, settings: SettingsDep) -> StreamingResponse:
    assert user.id is not None
    token = request.cookies.get(SESSION_COOKIE, "")
    engine: Engine = request.app.state.engine
    return StreamingResponse(
        _stream(request, engine, settings, token, user.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- one call: the pop and its disposition --------------------------------------------------------


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("HX-Request"))


def _pop(
    request: Request,
    session: Session,
    user: StaffUser,
    call: Call,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pop = workorder.screen_pop(session, user, call)
    context = {
        "title": "来电详情",
        "pop": pop,
        "call": call,
        "categories": workorder.minor_categories(session),
        "error": error,
        "form": form or {},
        "done": request.query_params.get("done", ""),
        "case_no": request.query_params.get("case", ""),
    }
    template = "hotline/pop.html" if _is_htmx(request) else "hotline/call.html"
    return render(request, template, context, status_code=status_code)


@router.get("/hotline/calls/{call_id}", name="hotline_call", response_class=HTMLResponse)
def hotline_call(request: Request, call_id: int, session: SessionDep, user: Agent) -> HTMLResponse:
    return _pop(request, session, user, workorder.get_call(session, call_id))


def _done(request: Request, call: Call, done: str, case_no: str = "") -> Response:
    if _is_htmx(request):
        return render(request, "hotline/done.html", {"call": call, "done": done, "case_no": case_no})
    url = request.url_for("hotline_call", call_id=call.id)
    query = f"?done={done}" + (f"&case={case_no}" if case_no else "")
    return RedirectResponse(f"{url}{query}", status_code=303)


def _float(value: str, label: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise Invalid("invalid_location", f"{label}应为数字") from None


Text = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=256)]


@router.post("/hotline/calls/{call_id}/case", name="hotline_case", response_model=None)
def create_work_order(
    request: Request,
    call_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: Agent,
    category: Short = "",
    description: Text = "",
    address: Short = "",
    lng: Short = "",
    lat: Short = "",
    reporter_name: Short = "",
) -> Response:
    call = workorder.get_call(session, call_id)
    form = {
        "category": category,
        "description": description,
        "address": address,
        "lng": lng,
        "lat": lat,
        "reporter_name": reporter_name,
    }
    workorder.require_handler(user, call)
    try:
        if not category:
            raise Invalid("category_required", "请选择案件类别")
        data = workorder.WorkOrderInput(
            category_code=category,
            description=description,
            lng=_float(lng, "经度"),
            lat=_float(lat, "纬度"),
            address=address,
            reporter_name=reporter_name,
        )
        with session.begin_nested():
            case = workorder.create_case(session, settings, call=call, staff=user, data=data)
    except Invalid as exc:
        return _pop(request, session, user, call, error=exc.message, form=form, status_code=422)
    record(
        session,
        actor=user,
        action="hotline_case",
        target_kind="call",
        target_id=call.id,
        detail={"case_no": case.case_no, "line": call.line},
        client_ip=client_ip(request),
    )
    return _done(request, call, "case", case.case_no)


@router.post("/hotline/calls/{call_id}/enquiry", name="hotline_enquiry", response_model=None)
def close_enquiry(
    request: Request, call_id: int, session: SessionDep, user: Agent, note: Text = ""
) -> Response:
    call = workorder.get_call(session, call_id)
    try:
        with session.begin_nested():
            workorder.close_as_enquiry(session, call=call, staff=user, note=note)
    except Invalid as exc:
        return _pop(request, session, user, call, error=exc.message, form={"note": note}, status_code=422)
    record(
        session,
        actor=user,
        action="hotline_enquiry",
        target_kind="call",
        target_id=call.id,
        detail={"line": call.line},
        client_ip=client_ip(request),
    )
    return _done(request, call, "enquiry")


@router.post("/hotline/calls/{call_id}/link", name="hotline_link", response_model=None)
def link_case(
    request: Request,
    call_id: int,
    session: SessionDep,
    user: Agent,
    case_no: Short = "",
    note: Text = "",
) -> Response:
    call = workorder.get_call(session, call_id)
    try:
        with session.begin_nested():
            case = workorder.link_to_case(session, call=call, staff=user, case_no=case_no, note=note)
    except Invalid as exc:
        form = {"case_no": case_no, "link_note": note}
        return _pop(request, session, user, call, error=exc.message, form=form, status_code=422)
    record(
        session,
        actor=user,
        action="hotline_link",
        target_kind="call",
        target_id=call.id,
        detail={"case_no": case.case_no, "line": call.line},
        client_ip=client_ip(request),
    )
    return _done(request, call, "linked", case.case_no)


# --- service levels ------------------------------------------------------------------------------


def _day(value: str, label: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("invalid_date", f"{label}格式不正确，应为 年-月-日") from None


def _levels_query(by: str, start: str, end: str) -> tuple[GroupBy, date, date]:
    try:
        group_by = GroupBy(by or GroupBy.DAY.value)
    except ValueError:
        raise Invalid("invalid_group", "未知的统计维度") from None
    today = to_local(utcnow()).date()
    first = _day(start, "开始日期") or today.replace(day=1)
    last = _day(end, "结束日期") or today
    if last < first:
        raise Invalid("invalid_period", "结束日期不能早于开始日期")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise Invalid("period_too_long", f"统计时段最长 {MAX_PERIOD_DAYS} 天")
    return group_by, first, last


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} 秒"


QText = Annotated[str, Query(max_length=20)]


@router.get("/hotline/service-levels", name="hotline_service_levels", response_model=None)
def levels_page(
    request: Request,
    session: SessionDep,
    user: LevelViewer,
    by: QText = "",
    start: QText = "",
    end: QText = "",
    export: QText = "",
) -> Response:
    query = {"by": by, "start": start, "end": end}
    try:
        group_by, first, last = _levels_query(by, start, end)
    except Invalid as exc:
        failed: dict[str, Any] = {
            "title": "热线服务水平",
            "error": exc.message,
            "query": query,
            "levels": None,
        }
        failed.update({"groups": list(GroupBy), "pct": _pct, "secs": _secs})
        return render(request, "hotline/service_levels.html", failed, status_code=422)
    levels = service_levels(
        session,
        group_by=group_by,
        start_at=_midnight(first),
        end_at=_midnight(last + timedelta(days=1)),
    )
    if export == "xlsx":
        record(
            session,
            actor=user,
            action="hotline_levels_export",
            target_kind="service_levels",
            detail={"by": group_by.value, "start": first.isoformat(), "end": last.isoformat()},
            client_ip=client_ip(request),
        )
        return _export(group_by, first, last, [*levels.rows, levels.total])
    query = {"by": group_by.value, "start": first.isoformat(), "end": last.isoformat()}
    context: dict[str, Any] = {
        "title": "热线服务水平",
        "levels": levels,
        "query": query,
        "groups": list(GroupBy),
        "pct": _pct,
        "secs": _secs,
        "error": "",
    }
    return render(request, "hotline/service_levels.html", context)


HEADERS = (
    "呼入量",
    "接通量",
    "15秒内接通",
    "15秒接通率",
    "接通率",
    "放弃量",
    "放弃率",
    "平均等待(秒)",
    "平均通话(秒)",
    "回拨任务",
    "回拨完成",
    "回拨完成率",
)


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _export(group_by: GroupBy, first: date, last: date, rows: list[LevelRow]) -> Response:
    cells: list[list[Cell]] = [
        [
            row.key,
            row.offered,
            row.answered,
            row.answered_in_target,
            _ratio(row.in_target_rate),
            _ratio(row.connected_rate),
            row.abandoned,
            _ratio(row.abandon_rate),
            None if row.avg_hold_s is None else round(row.avg_hold_s, 1),
            None if row.avg_talk_s is None else round(row.avg_talk_s, 1),
            row.callbacks_created,
            row.callbacks_done,
            _ratio(row.callback_rate),
        ]
        for row in rows
    ]
    name = f"热线服务水平_{group_by.label}_{first:%Y%m%d}-{last:%Y%m%d}.xlsx"
    return xlsx_response(name, (group_by.label, *HEADERS), cells, sheet="服务水平")


# --- call-back and follow-up tasks ---------------------------------------------------------------

TASK_FILTERS = ("kind", "status", "since", "until", "number")
TASK_LIMIT = 200
TASK_DONE = {
    "call_now": "已安排立即回拨，热线桥接程序将在下一轮调度时拨出（仅在外呼时段内）。",
    "cancelled": "任务已取消。",
    "handled": "任务已标记为已处理。",
}


def _task_filter(values: dict[str, str]) -> calltasks.TaskFilter:
    try:
        kind = CallTaskKind(values["kind"]) if values["kind"] else None
        status = CallTaskStatus(values["status"]) if values["status"] else None
    except ValueError:
        raise Invalid("invalid_task_filter", "未知的任务类型或状态") from None
    since = _day(values["since"], "开始日期")
    until = _day(values["until"], "结束日期")
    if since and until and until < since:
        raise Invalid("invalid_period", "结束日期不能早于开始日期")
    number = values["number"]
    if number and not number.lstrip("+").isdigit():
        raise Invalid("invalid_number", "电话号码只能填写数字")
    return calltasks.TaskFilter(
        kind=kind,
        status=status,
        since=_midnight(since) if since else None,
        until=_midnight(until + timedelta(days=1)) if until else None,
        number=number,
    )


def _tasks_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    rows: list[calltasks.TaskRow] = []
    if not error:
        try:
            rows = calltasks.list_tasks(session, _task_filter(values), limit=TASK_LIMIT + 1)
        except Invalid as exc:
            error, status_code = exc.message, 422
    context: dict[str, Any] = {
        "title": "回拨/回访任务",
        "rows": rows[:TASK_LIMIT],
        "more": len(rows) > TASK_LIMIT,
        "limit": TASK_LIMIT,
        "filters": values,
        "back": urlencode([(name, value) for name, value in values.items() if value]),
        "counts": calltasks.counts_by_status(session),
        "kinds": calltasks.KIND_LABELS,
        "statuses": calltasks.STATUS_LABELS,
        "satisfaction": calltasks.SATISFACTION_LABELS,
        "actionable": calltasks.ACTIONABLE,
        "mask": mask_phone,
        "done": TASK_DONE.get(request.query_params.get("done", ""), ""),
        "error": error,
    }
    return render(request, "hotline/tasks.html", context, status_code=status_code)


def _filter_values(params: Mapping[str, str]) -> dict[str, str]:
    return {name: str(params.get(name) or "").strip()[:20] for name in TASK_FILTERS}


@router.get("/hotline/tasks", name="hotline_tasks", response_class=HTMLResponse)
def tasks_page(request: Request, session: SessionDep, user: Agent) -> HTMLResponse:
    return _tasks_page(request, session, _filter_values(request.query_params))


def _back_to_tasks(request: Request, back: str, done: str) -> RedirectResponse:
    """Back to the list with the filter it was submitted from (only the filter's own fields)."""
    values = _filter_values(dict(parse_qsl(back)))
    query = urlencode([*((name, value) for name, value in values.items() if value), ("done", done)])
    return RedirectResponse(f"{request.url_for('hotline_tasks').path}?{query}", status_code=303)


def _task_action(
    request: Request,
    session: Session,
    user: StaffUser,
    task_id: int,
    back: str,
    *,
    action: str,
    done: str,
    run: Callable[[], CallTask],
) -> Response:
    try:
        with session.begin_nested():
            task = run()
    except (Invalid, Conflict) as exc:
        values = _filter_values(dict(parse_qsl(back)))
        return _tasks_page(request, session, values, error=exc.message, status_code=STATUS_BY_KIND[exc.kind])
    record(
        session,
        actor=user,
        action=action,
        target_kind="call_task",
        target_id=task_id,
        detail={"kind": task.kind.value, "status": task.status.value, "result": task.last_result},
        client_ip=client_ip(request),
    )
    return _back_to_tasks(request, back, done)


@router.post("/hotline/tasks/{task_id}/call-now", name="hotline_task_call_now", response_model=None)
def task_call_now(
    request: Request, task_id: int, session: SessionDep, user: Agent, back: Text = ""
) -> Response:
    return _task_action(
        request,
        session,
        user,
        task_id,
        back,
        action="call_task_call_now",
        done="call_now",
        run=lambda: calltasks.call_now(session, task_id=task_id, staff=user, now=utcnow()),
    )


@router.post("/hotline/tasks/{task_id}/cancel", name="hotline_task_cancel", response_model=None)
def task_cancel(
    request: Request, task_id: int, session: SessionDep, user: Agent, reason: Short = "", back: Text = ""
) -> Response:
    return _task_action(
        request,
        session,
        user,
        task_id,
        back,
        action="call_task_cancel",
        done="cancelled",
        run=lambda: calltasks.cancel(session, task_id=task_id, staff=user, reason=reason, now=utcnow()),
    )


@router.post("/hotline/tasks/{task_id}/handled", name="hotline_task_handled", response_model=None)
def task_handled(
    request: Request, task_id: int, session: SessionDep, user: Agent, note: Short = "", back: Text = ""
) -> Response:
    return _task_action(
        request,
        session,
        user,
        task_id,
        back,
        action="call_task_handled",
        done="handled",
        run=lambda: calltasks.mark_handled(session, task_id=task_id, staff=user, note=note, now=utcnow()),
    )


@router.post("/hotline/tasks/{task_id}/phone", name="hotline_task_phone", response_class=HTMLResponse)
def task_phone(request: Request, task_id: int, session: SessionDep, user: Agent) -> HTMLResponse:
    """The full number (an htmx swap of the masked one); every view is audited (``view_phone``)."""
    task = calltasks.get_task(session, task_id)
    record(
        session,
        actor=user,
        action="view_phone",
        target_kind="call_task",
        target_id=task_id,
        detail={"kind": task.kind.value},
        client_ip=client_ip(request),
    )
    return HTMLResponse(f'<span class="phone" data-phone>{escape(task.number)}</span>')
