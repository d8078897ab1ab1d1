"""Console pages: penalty decisions (罚款) — the list with filters and an Excel export, one decision with
today's late fee, its payments and refunds, and the staff actions: create, cancel (撤销), approve a
deferral or instalment plan (暂缓/分期).

Roles: there is no enforcement/finance role yet, so leaders and administrators read and act
(``VIEW_ROLES`` / ``MANAGE_ROLES``). Every action is checked on the server, carries the CSRF token and
is audited (target ``fine`` and the decision number); showing the party's full phone number is audited
too. Refused input is answered with the page again and a Chinese message (422/409), never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from admin.deps import SessionDep, SettingsDep, client_ip, require
from admin.errors import error_page
from admin.export import Cell, xlsx_response
from admin.routes._listing import (
    FilterError,
    base_query,
    check_text,
    day_range,
    echoed_values,
    form_values,
    page_of,
    paging,
)
from admin.templating import render
from core.audit import service as audit
from core.errors import DomainError, ErrorKind, Forbidden
from core.kit.clock import to_local, utcnow
from core.models import FineStatus, PenaltyDecision, StaffRole, StaffUser
from core.models.fines import PAYMENT_DAYS
from payments import console as payments_console
from payments.fines import console as fines
from payments.fines.fees import yuan
from payments.fines.service import fine_out

router = APIRouter(prefix="/fines")

VIEW_ROLES = frozenset({StaffRole.LEADER, StaffRole.ADMIN})
MANAGE_ROLES = frozenset({StaffRole.LEADER, StaffRole.ADMIN})
PHONE_ROLES = frozenset({StaffRole.LEADER, StaffRole.ADMIN})
ViewerDep = Annotated[StaffUser, Depends(require(*VIEW_ROLES))]
ManagerDep = Annotated[StaffUser, Depends(require(*MANAGE_ROLES))]

EXPORT_MAX_ROWS = 50_000
FILTER_FIELDS = ("status", "q", "since", "until", "overdue")
STATUS_VALUES = frozenset(status.value for status in FineStatus)
NOTICES = {
    "created": "处罚决定书已登记",
    "cancelled": "处罚决定书已撤销",
    "deferred": "已批准暂缓/分期缴纳",
}
LABELS: dict[str, Any] = {
    "status_labels": {status.value: label for status, label in fines.FINE_STATUS_LABELS.items()},
    "order_status_labels": {s.value: label for s, label in payments_console.ORDER_STATUS_LABELS.items()},
    "channel_labels": {c.value: label for c, label in payments_console.CHANNEL_LABELS.items()},
    "refund_status_labels": {s.value: label for s, label in payments_console.REFUND_STATUS_LABELS.items()},
    "yuan": yuan,
}
ACTION_LABELS = {
    "fine_created": "登记",
    "fine_cancelled": "撤销",
    "fine_deferral_approved": "批准暂缓/分期",
    "view_phone": "查看完整电话",
    "refund_requested": "申请退款",
    "refund_retried": "重新发起退款",
}


@dataclass
class Query:
    values: dict[str, str] = field(default_factory=dict)
    where: fines.DecisionFilter = field(default_factory=fines.DecisionFilter)
    page: int = 1


def parse_query(params: Mapping[str, Any]) -> Query:
    values = form_values(params, FILTER_FIELDS)
    query = Query(values=values)
    check_text(values)
    if values["status"] and values["status"] not in STATUS_VALUES:
        raise FilterError("请选择正确的状态")
    since, until = day_range(values)
    query.where = fines.DecisionFilter(
        status=FineStatus(values["status"]) if values["status"] else None,
        text=values["q"],
        decided_from=since,
        decided_to=until,
        overdue=values["overdue"] == "1",
        today=fines.local_today(utcnow()),
    )
    query.page = page_of(params)
    return query


def _list_page(
    request: Request,
    session: Session,
    settings: SettingsDep,
    query: Query,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    rows: list[PenaltyDecision] = []
    total = 0
    size = settings.console.page_size
    if not error:
        total = fines.count(session, query.where)
        rows = fines.search(session, query.where, offset=(query.page - 1) * size, limit=size)
    now = utcnow()
    base = base_query(query.values)
    pages = paging(base, query.page, total, size)
    return render(
        request,
        "fines/index.html",
        {
            "title": "罚款",
            "rows": [(decision, fine_out(decision, now=now)) for decision in rows],
            "case_nos": fines.case_numbers(session, {d.case_id for d in rows if d.case_id}),
            "filters": query.values,
            "statuses": list(FineStatus),
            "total": total,
            "page": pages.page,
            "pages": pages.pages,
            "prev_query": pages.prev_query,
            "next_query": pages.next_query,
            "export_query": urlencode(base),
            "error": error,
            "export_max": EXPORT_MAX_ROWS,
            "may_manage": _may(request, MANAGE_ROLES),
            "notice": NOTICES.get(str(request.query_params.get("done", "")), ""),
            **LABELS,
        },
        status_code=status_code,
    )


def _may(request: Request, roles: frozenset[StaffRole]) -> bool:
    user = getattr(request.state, "user", None)
    return user is not None and user.role in roles


def _refused(
    request: Request, session: Session, settings: SettingsDep, params: Mapping[str, Any], exc: FilterError
) -> HTMLResponse:
    values = echoed_values(params, FILTER_FIELDS)
    return _list_page(request, session, settings, Query(values=values), error=str(exc), status_code=422)


@router.get("", response_class=HTMLResponse, name="fines")
def fine_list(request: Request, session: SessionDep, settings: SettingsDep, user: ViewerDep) -> HTMLResponse:
    try:
        query = parse_query(request.query_params)
    except FilterError as exc:
        return _refused(request, session, settings, request.query_params, exc)
    return _list_page(request, session, settings, query)


EXPORT_HEADERS = (
    "决定书编号",
    "当事人",
    "身份证号（脱敏）",
    "联系电话（脱敏）",
    "关联案件",
    "罚款金额（元）",
    "决定日期",
    "送达日期",
    "缴款期限",
    "状态",
    "逾期天数",
    "加处罚款（元）",
    "应缴合计（元）",
    "暂缓起始",
    "暂缓截止",
    "分期/暂缓说明",
)


@router.get("/export", name="fines_export")
def fine_export(request: Request, session: SessionDep, settings: SettingsDep, user: ViewerDep) -> Response:
    try:
        query = parse_query(request.query_params)
    except FilterError as exc:
        return _refused(request, session, settings, request.query_params, exc)
    total = fines.count(session, query.where)
    if total > EXPORT_MAX_ROWS:
        message = f"符合条件的决定书有 {total} 条，超过单次导出上限 {EXPORT_MAX_ROWS} 条，请缩小筛选范围"
        return _list_page(request, session, settings, query, error=message, status_code=422)
    now = utcnow()
    decisions = list(fines.iterate(session, query.where))
    case_nos = fines.case_numbers(session, {d.case_id for d in decisions if d.case_id})
    rows: list[list[Cell]] = []
    for decision in decisions:
        fine = fine_out(decision, now=now)
        rows.append(
            [
                decision.decision_no,
                decision.party_name,
                fines.mask_id_number(decision.party_id_masked),
                fines.mask_phone(decision.phone),
                case_nos.get(decision.case_id, "") if decision.case_id else "",
                fine.amount_yuan,
                decision.decided_on,
                decision.served_on,
                decision.due_on,
                fines.FINE_STATUS_LABELS[decision.status],
                fine.late_days,
                fine.late_fee_yuan,
                fine.total_yuan,
                decision.deferral_from,
                decision.deferral_until,
                decision.instalment_note,
            ]
        )
    audit.record(
        session,
        actor=user,
        action="fines_exported",
        target_kind=fines.AUDIT_TARGET,
        detail={"filter": {k: v for k, v in query.values.items() if v}, "rows": len(rows)},
        client_ip=client_ip(request),
    )
    stamp = to_local(now).strftime("%Y%m%d-%H%M%S")
    return xlsx_response(f"罚款决定书-{stamp}.xlsx", EXPORT_HEADERS, rows, sheet="罚款决定书")


# --------------------------------------------------------------------------- create


FORM_FIELDS = (
    "decision_no",
    "party_name",
    "party_id",
    "phone",
    "case_no",
    "amount_yuan",
    "decided_on",
    "served_on",
    "due_on",
)


def _new_page(
    request: Request, values: dict[str, str], *, error: DomainError | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "fines/new.html",
        {
            "title": "登记处罚决定书",
            "values": values,
            "error": error.message if error else "",
            "error_field": str(error.details.get("field", "")) if error else "",
            "payment_days": PAYMENT_DAYS,
        },
        status_code=status_code,
    )


@router.get("/new", response_class=HTMLResponse, name="fine_new")
def fine_new(request: Request, user: ManagerDep) -> HTMLResponse:
    today = fines.local_today(utcnow()).isoformat()
    return _new_page(request, {"decided_on": today, "served_on": today})


@router.post("/new", response_class=HTMLResponse, name="fine_create")
def fine_create(
    request: Request,
    session: SessionDep,
    user: ManagerDep,
    decision_no: Annotated[str, Form()] = "",
    party_name: Annotated[str, Form()] = "",
    party_id: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    case_no: Annotated[str, Form()] = "",
    amount_yuan: Annotated[str, Form()] = "",
    decided_on: Annotated[str, Form()] = "",
    served_on: Annotated[str, Form()] = "",
    due_on: Annotated[str, Form()] = "",
) -> Response:
    data = fines.NewDecision(
        decision_no=decision_no,
        party_name=party_name,
        party_id=party_id,
        phone=phone,
        case_no=case_no,
        amount_yuan=amount_yuan,
        decided_on=decided_on,
        served_on=served_on,
        due_on=due_on,
    )
    try:
        decision = fines.create_decision(session, data=data, now=utcnow())
    except DomainError as exc:
        if exc.kind not in (ErrorKind.INVALID, ErrorKind.CONFLICT):
            raise
        # The form again as typed (cut to size); a full identity number typed is not echoed back.
        values = {name: str(getattr(data, name))[:128] for name in FORM_FIELDS}
        values["party_id"] = fines.mask_id_number(values["party_id"].strip())
        status = 409 if exc.kind is ErrorKind.CONFLICT else 422
        return _new_page(request, values, error=exc, status_code=status)
    fines.record_action(
        session,
        actor=user,
        action="fine_created",
        decision=decision,
        client_ip=client_ip(request),
        detail={"amount_fen": decision.amount_fen, "due_on": decision.due_on.isoformat()},
    )
    return _to_decision(request, decision, "created")


def _to_decision(request: Request, decision: PenaltyDecision, done: str) -> RedirectResponse:
    target = request.url_for("fine_page", decision_id=decision.id)
    return RedirectResponse(f"{target.path}?done={done}", status_code=303)


# --------------------------------------------------------------------------- one decision


def _decision_page(
    request: Request,
    session: Session,
    decision: PenaltyDecision,
    *,
    error: str = "",
    error_form: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    detail = fines.detail(session, decision, now=utcnow())
    return render(
        request,
        "fines/page.html",
        {
            "title": f"处罚决定书 {decision.decision_no}",
            "d": detail,
            "decision": decision,
            "fine": detail.fine,
            "party_id": fines.mask_id_number(decision.party_id_masked),
            "phone_masked": fines.mask_phone(decision.phone),
            "may_see_phone": _may(request, PHONE_ROLES) and bool(decision.phone),
            "may_manage": _may(request, MANAGE_ROLES),
            "payable": decision.status in fines.PAYABLE,
            "refund_by_order": detail.refund_by_order,
            "notice": NOTICES.get(str(request.query_params.get("done", "")), ""),
            "error": error,
            "error_form": error_form,
            "values": values or {},
            "action_labels": ACTION_LABELS,
            **LABELS,
        },
        status_code=status_code,
    )


@router.get("/{decision_id:int}", response_class=HTMLResponse, name="fine_page")
def fine_page(request: Request, session: SessionDep, user: ViewerDep, decision_id: int) -> HTMLResponse:
    return _decision_page(request, session, fines.get_decision(session, decision_id))


@router.post("/{decision_id:int}/phone", response_class=HTMLResponse, name="fine_phone")
def fine_phone(request: Request, session: SessionDep, user: ViewerDep, decision_id: int) -> HTMLResponse:
    try:
        if user.role not in PHONE_ROLES:
            raise Forbidden("phone_forbidden", "您的角色无权查看完整号码")
        decision = fines.get_decision(session, decision_id)
    except DomainError as exc:
        return error_page(request, exc)
    fines.record_action(
        session, actor=user, action="view_phone", decision=decision, client_ip=client_ip(request)
    )
    return render(request, "fines/phone.html", {"phone": decision.phone})


def _refused_action(
    request: Request, session: Session, decision_id: int, exc: DomainError, form: str, values: dict[str, str]
) -> HTMLResponse:
    if exc.kind not in (ErrorKind.INVALID, ErrorKind.CONFLICT):
        raise exc
    decision = fines.get_decision(session, decision_id)
    status = 409 if exc.kind is ErrorKind.CONFLICT else 422
    return _decision_page(
        request, session, decision, error=exc.message, error_form=form, values=values, status_code=status
    )


@router.post("/{decision_id:int}/cancel", response_class=HTMLResponse, name="fine_cancel")
def fine_cancel(
    request: Request,
    session: SessionDep,
    user: ManagerDep,
    decision_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        result = fines.cancel_decision(session, decision_id=decision_id, reason=reason, now=utcnow())
    except DomainError as exc:
        return _refused_action(request, session, decision_id, exc, "cancel", {"reason": reason[:256]})
    fines.record_action(
        session,
        actor=user,
        action=fines.CANCELLED_ACTION,
        decision=result.decision,
        client_ip=client_ip(request),
        detail={"reason": result.reason, "closed_orders": result.closed_orders},
    )
    return _to_decision(request, result.decision, "cancelled")


@router.post("/{decision_id:int}/deferral", response_class=HTMLResponse, name="fine_deferral")
def fine_deferral(
    request: Request,
    session: SessionDep,
    user: ManagerDep,
    decision_id: int,
    deferral_from: Annotated[str, Form()] = "",
    deferral_until: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    data = fines.DeferralInput(start=deferral_from, until=deferral_until, note=note)
    try:
        result = fines.approve_deferral(session, decision_id=decision_id, data=data, now=utcnow())
    except DomainError as exc:
        values = {
            "deferral_from": deferral_from[:10],
            "deferral_until": deferral_until[:10],
            "note": note[:256],
        }
        return _refused_action(request, session, decision_id, exc, "deferral", values)
    decision = result.decision
    fines.record_action(
        session,
        actor=user,
        action="fine_deferral_approved",
        decision=decision,
        client_ip=client_ip(request),
        detail={
            "from": decision.deferral_from.isoformat() if decision.deferral_from else None,
            "until": decision.deferral_until.isoformat() if decision.deferral_until else None,
            "note": result.reason,
            "closed_orders": result.closed_orders,
        },
    )
    return _to_decision(request, decision, "deferred")
