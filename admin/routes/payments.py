"""Console pages: payments (支付) and reconciliation (对账).

Tabs: payment orders (filters, Excel export), the refund queue (money received that could not be
applied, ``needs_refund``), refused or flagged provider notifications (mark reviewed), refunds, and the
daily reconciliation runs with their mismatch items. One order's page has the refund button (paid or
``needs_refund`` orders): ``payments.refunds.service.request_refund``, sent to the provider by the job
``payments.refund``. A FAILED refund has a "重新发起退款" button there and in the refunds list
(``retry_refund``: a new refund number, the job again).

Roles as for fines (``admin.routes.fines``): leaders and administrators. Actions are CSRF-checked and
audited; refused input is answered with the page and a Chinese message, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from admin.deps import SessionDep, SettingsDep, client_ip, require
from admin.export import Cell, xlsx_response
from admin.routes._listing import (
    FilterError,
    base_query,
    check_text,
    choice,
    day_range,
    echoed_values,
    form_values,
    one_choice,
    page_of,
    paging,
)
from admin.routes.fines import MANAGE_ROLES, VIEW_ROLES
from admin.templating import render
from core.audit import service as audit
from core.errors import DomainError, ErrorKind
from core.kit.clock import SHANGHAI, to_local, utcnow
from core.kit.text import CONTROL_CHARACTERS
from core.models import PaymentChannel, PaymentOrderStatus, RefundStatus, StaffUser
from payments import console
from payments.fines import console as fines
from payments.fines.fees import yuan
from payments.refunds.service import request_refund, retry_refund, retryable

router = APIRouter(prefix="/payments")

ViewerDep = Annotated[StaffUser, Depends(require(*VIEW_ROLES))]
ManagerDep = Annotated[StaffUser, Depends(require(*MANAGE_ROLES))]

EXPORT_MAX_ROWS = 50_000
MAX_REASON = 256
TABS: tuple[tuple[str, str], ...] = (
    ("payments", "支付订单"),
    ("payments_needs_refund", "待退款"),
    ("payments_notifications", "异常通知"),
    ("payments_refunds", "退款"),
    ("payments_reconciliation", "对账"),
)
LABELS: dict[str, Any] = {
    "order_status_labels": {s.value: label for s, label in console.ORDER_STATUS_LABELS.items()},
    "channel_labels": {c.value: label for c, label in console.CHANNEL_LABELS.items()},
    "client_labels": {c.value: label for c, label in console.CLIENT_LABELS.items()},
    "refund_status_labels": {s.value: label for s, label in console.REFUND_STATUS_LABELS.items()},
    "verdict_labels": {v.value: label for v, label in console.VERDICT_LABELS.items()},
    "mismatch_labels": {k.value: label for k, label in console.MISMATCH_LABELS.items()},
    "fine_status_labels": {s.value: label for s, label in fines.FINE_STATUS_LABELS.items()},
    "yuan": yuan,
    "refund_retryable": retryable,
}
NOTICES = {
    "refund": "退款申请已提交，系统将向支付渠道发起退款",
    "retry": "已重新发起退款，系统将以新的退款单号向支付渠道发起退款",
    "retry_skipped": "该退款已不是失败状态（可能已重新发起或已完成），未再次发起",
    "reviewed": "已标记为已复核",
}
RETRY_BACK = "refunds"  # the retry form of the refunds list comes back to the list


def _page(
    request: Request, template: str, tab: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    return render(
        request,
        template,
        {
            "tabs": TABS,
            "tab": tab,
            "may_manage": user is not None and user.role in MANAGE_ROLES,
            "notice": NOTICES.get(str(request.query_params.get("done", "")), ""),
            **LABELS,
            **context,
        },
        status_code=status_code,
    )


# --------------------------------------------------------------------------- orders

ORDER_FIELDS = ("status", "channel", "since", "until", "q")


@dataclass
class OrderQuery:
    values: dict[str, str] = field(default_factory=dict)
    where: console.OrderFilter = field(default_factory=console.OrderFilter)
    page: int = 1


def parse_order_query(params: Mapping[str, Any]) -> OrderQuery:
    values = form_values(params, ORDER_FIELDS)
    query = OrderQuery(values=values)
    check_text(values)
    status = choice(values["status"], PaymentOrderStatus, "请选择正确的订单状态")
    channel = choice(values["channel"], PaymentChannel, "请选择正确的支付渠道")
    since, until = day_range(values)
    query.where = console.OrderFilter(
        status=status,
        channel=channel,
        # Local (Asia/Shanghai) calendar days of the order's creation; the end day is included.
        since=datetime.combine(since, time(), SHANGHAI) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), SHANGHAI) if until else None,
        text=values["q"],
    )
    query.page = page_of(params)
    return query


def _orders_page(
    request: Request,
    session: Session,
    settings: SettingsDep,
    query: OrderQuery,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    size = settings.console.page_size
    rows: list[console.OrderRow] = []
    total = 0
    if not error:
        total = console.count_orders(session, query.where)
        rows = console.search_orders(session, query.where, offset=(query.page - 1) * size, limit=size)
    base = base_query(query.values)
    return _page(
        request,
        "payments/orders.html",
        "payments",
        {
            "title": "支付订单",
            "rows": rows,
            "total": total,
            "filters": query.values,
            "statuses": list(PaymentOrderStatus),
            "channels": list(PaymentChannel),
            "paging": paging(base, query.page, total, size),
            "export_query": urlencode(base),
            "export_max": EXPORT_MAX_ROWS,
            "error": error,
        },
        status_code=status_code,
    )


def _orders_refused(
    request: Request, session: Session, settings: SettingsDep, params: Mapping[str, Any], exc: FilterError
) -> HTMLResponse:
    values = echoed_values(params, ORDER_FIELDS)
    return _orders_page(
        request, session, settings, OrderQuery(values=values), error=str(exc), status_code=422
    )


@router.get("", response_class=HTMLResponse, name="payments")
def orders(request: Request, session: SessionDep, settings: SettingsDep, user: ViewerDep) -> HTMLResponse:
    try:
        query = parse_order_query(request.query_params)
    except FilterError as exc:
        return _orders_refused(request, session, settings, request.query_params, exc)
    return _orders_page(request, session, settings, query)


ORDER_EXPORT_HEADERS = (
    "订单号",
    "决定书编号",
    "当事人",
    "渠道",
    "终端",
    "状态",
    "订单金额（元）",
    "其中罚款（元）",
    "其中加处罚款（元）",
    "实收金额（元）",
    "渠道交易号",
    "收据编号",
    "创建时间",
    "支付时间",
    "关闭时间",
)


@router.get("/export", name="payments_export")
def orders_export(request: Request, session: SessionDep, settings: SettingsDep, user: ViewerDep) -> Response:
    try:
        query = parse_order_query(request.query_params)
    except FilterError as exc:
        return _orders_refused(request, session, settings, request.query_params, exc)
    total = console.count_orders(session, query.where)
    if total > EXPORT_MAX_ROWS:
        message = f"符合条件的订单有 {total} 条，超过单次导出上限 {EXPORT_MAX_ROWS} 条，请缩小筛选范围"
        return _orders_page(request, session, settings, query, error=message, status_code=422)
    rows: list[list[Cell]] = []
    for row in console.iterate_orders(session, query.where):
        order = row.order
        rows.append(
            [
                order.out_trade_no,
                row.decision_no,
                row.party_name,
                console.CHANNEL_LABELS[order.channel],
                console.CLIENT_LABELS[order.client],
                console.ORDER_STATUS_LABELS[order.status],
                yuan(order.amount_fen),
                yuan(order.fine_fen),
                yuan(order.late_fee_fen),
                yuan(order.paid_amount_fen) if order.paid_amount_fen is not None else None,
                order.provider_txn_id,
                order.receipt_no,
                order.created_at,
                order.paid_at,
                order.closed_at,
            ]
        )
    audit.record(
        session,
        actor=user,
        action="payments_exported",
        target_kind="payment_order",
        detail={"filter": {k: v for k, v in query.values.items() if v}, "rows": len(rows)},
        client_ip=client_ip(request),
    )
    stamp = to_local(utcnow()).strftime("%Y%m%d-%H%M%S")
    return xlsx_response(f"支付订单-{stamp}.xlsx", ORDER_EXPORT_HEADERS, rows, sheet="支付订单")


# --------------------------------------------------------------------------- one order and its refund


def _order_page(
    request: Request,
    session: Session,
    order_id: int,
    *,
    error: str = "",
    reason: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    detail = console.order_detail(session, order_id)
    return _page(
        request,
        "payments/order.html",
        "payments",
        {
            "title": f"支付订单 {detail.order.out_trade_no}",
            "d": detail,
            "order": detail.order,
            "error": error,
            "reason": reason,
            "max_reason": MAX_REASON,
        },
        status_code=status_code,
    )


@router.get("/orders/{order_id:int}", response_class=HTMLResponse, name="payment_order")
def order_page(request: Request, session: SessionDep, user: ViewerDep, order_id: int) -> HTMLResponse:
    return _order_page(request, session, order_id)


@router.post("/orders/{order_id:int}/refund", response_class=HTMLResponse, name="payment_refund_request")
def order_refund(
    request: Request,
    session: SessionDep,
    user: ManagerDep,
    order_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    text = reason.strip()
    detail = console.order_detail(session, order_id)  # 404 page for an unknown order
    message = ""
    if not text:
        message = "请填写退款原因"
    elif len(text) > MAX_REASON:
        message = f"退款原因过长（最多 {MAX_REASON} 个字符）"
    elif CONTROL_CHARACTERS.search(text):
        message = "退款原因含有不可见的控制字符"
    elif detail.refund is not None:
        message = "该订单已申请过退款，不能重复申请"
    if message:
        return _order_page(
            request, session, order_id, error=message, reason=text[:MAX_REASON], status_code=422
        )
    try:
        refund = request_refund(session, order_id=order_id, reason=text, staff_id=user.id, now=utcnow())
    except DomainError as exc:
        if exc.kind not in (ErrorKind.INVALID, ErrorKind.CONFLICT):
            raise
        return _order_page(request, session, order_id, error=exc.message, reason=text, status_code=409)
    audit.record(
        session,
        actor=user,
        action="refund_requested",
        target_kind=fines.AUDIT_TARGET,
        target_id=detail.decision.decision_no,
        detail={
            "out_trade_no": detail.order.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "amount_fen": refund.amount_fen,
            "reason": refund.reason,
        },
        client_ip=client_ip(request),
    )
    target = request.url_for("payment_order", order_id=order_id)
    return RedirectResponse(f"{target.path}?done=refund", status_code=303)


@router.post("/refunds/{refund_id:int}/retry", response_class=HTMLResponse, name="payment_refund_retry")
def refund_retry(
    request: Request,
    session: SessionDep,
    user: ManagerDep,
    refund_id: int,
    back: Annotated[str, Form()] = "",
) -> Response:
    try:
        result = retry_refund(session, refund_id=refund_id, staff_id=user.id, now=utcnow())
    except DomainError as exc:
        order_id = exc.details.get("order_id")
        if exc.kind is not ErrorKind.CONFLICT or not isinstance(order_id, int):
            raise  # refund_not_found: the 404 page
        return _order_page(request, session, order_id, error=exc.message, status_code=409)
    refund = result.refund
    if result.retried:
        detail = console.order_detail(session, refund.order_id)
        audit.record(
            session,
            actor=user,
            action="refund_retried",
            target_kind=fines.AUDIT_TARGET,
            target_id=detail.decision.decision_no,
            detail={
                "out_trade_no": detail.order.out_trade_no,
                "out_refund_no": refund.out_refund_no,
                "previous_out_refund_no": result.previous_out_refund_no,
                "previous_failure": result.previous_failure,
                "amount_fen": refund.amount_fen,
            },
            client_ip=client_ip(request),
        )
    done = "retry" if result.retried else "retry_skipped"
    if back == RETRY_BACK:
        target = request.url_for("payments_refunds")
    else:
        target = request.url_for("payment_order", order_id=refund.order_id)
    return RedirectResponse(f"{target.path}?done={done}", status_code=303)


# --------------------------------------------------------------------------- refund queue


@router.get("/needs-refund", response_class=HTMLResponse, name="payments_needs_refund")
def needs_refund(request: Request, session: SessionDep, user: ViewerDep) -> HTMLResponse:
    return _page(
        request,
        "payments/needs_refund.html",
        "payments_needs_refund",
        {
            "title": "待退款",
            "rows": console.needs_refund(session),
            "total": console.count_needs_refund(session),
        },
    )


# --------------------------------------------------------------------------- notifications


@router.get("/notifications", response_class=HTMLResponse, name="payments_notifications")
def notifications(request: Request, session: SessionDep, settings: SettingsDep, user: ViewerDep) -> Response:
    reviewed = request.query_params.get("reviewed", "") == "1"
    try:
        page = page_of(request.query_params)
    except FilterError as exc:
        return _notifications_page(request, session, settings, reviewed, 1, error=str(exc), status_code=422)
    return _notifications_page(request, session, settings, reviewed, page)


def _notifications_page(
    request: Request,
    session: Session,
    settings: SettingsDep,
    reviewed: bool,
    page: int,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    size = settings.console.page_size
    total = console.count_flagged(session, reviewed=reviewed)
    rows = console.flagged_notifications(session, reviewed=reviewed, offset=(page - 1) * size, limit=size)
    base = [("reviewed", "1")] if reviewed else []
    return _page(
        request,
        "payments/notifications.html",
        "payments_notifications",
        {
            "title": "异常支付通知",
            "rows": rows,
            "total": total,
            "reviewed": reviewed,
            "paging": paging(base, page, total, size),
            "error": error,
        },
        status_code=status_code,
    )


@router.post(
    "/notifications/{notification_id:int}/reviewed", name="payment_notification_reviewed", response_model=None
)
def notification_reviewed(
    request: Request, session: SessionDep, user: ManagerDep, notification_id: int
) -> RedirectResponse:
    assert user.id is not None
    notification, changed = console.mark_reviewed(
        session, notification_id=notification_id, staff_id=user.id, now=utcnow()
    )
    if changed:
        audit.record(
            session,
            actor=user,
            action="payment_notification_reviewed",
            target_kind="payment_notification",
            target_id=notification.id,
            detail={"channel": notification.channel.value, "reason": notification.reason},
            client_ip=client_ip(request),
        )
    target = request.url_for("payments_notifications")
    return RedirectResponse(f"{target.path}?done=reviewed", status_code=303)


# --------------------------------------------------------------------------- refunds


@router.get("/refunds", response_class=HTMLResponse, name="payments_refunds")
def refunds(request: Request, session: SessionDep, settings: SettingsDep, user: ViewerDep) -> HTMLResponse:
    chosen = one_choice(request.query_params, "status", RefundStatus, "请选择正确的退款状态")
    status: RefundStatus | None = chosen.selected
    page, error = chosen.page, chosen.error
    size = settings.console.page_size
    total = 0 if error else console.count_refunds(session, status=status)
    rows = (
        [] if error else console.search_refunds(session, status=status, offset=(page - 1) * size, limit=size)
    )
    return _page(
        request,
        "payments/refunds.html",
        "payments_refunds",
        {
            "title": "退款",
            "rows": rows,
            "total": total,
            "status": chosen.value[:16],
            "statuses": list(RefundStatus),
            "paging": paging(chosen.base, page, total, size),
            "error": error,
        },
        status_code=422 if error else 200,
    )


# --------------------------------------------------------------------------- reconciliation


@router.get("/reconciliation", response_class=HTMLResponse, name="payments_reconciliation")
def reconciliation(
    request: Request, session: SessionDep, settings: SettingsDep, user: ViewerDep
) -> HTMLResponse:
    chosen = one_choice(request.query_params, "channel", PaymentChannel, "请选择正确的支付渠道")
    channel: PaymentChannel | None = chosen.selected
    page, error = chosen.page, chosen.error
    size = settings.console.page_size
    total = 0 if error else console.count_runs(session, channel=channel)
    runs = (
        []
        if error
        else console.reconciliation_runs(session, channel=channel, offset=(page - 1) * size, limit=size)
    )
    return _page(
        request,
        "payments/reconciliation.html",
        "payments_reconciliation",
        {
            "title": "对账",
            "runs": runs,
            "total": total,
            "channel": chosen.value[:16],
            "channels": list(PaymentChannel),
            "paging": paging(chosen.base, page, total, size),
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/reconciliation/{run_id:int}", response_class=HTMLResponse, name="payments_reconciliation_run")
def reconciliation_run(request: Request, session: SessionDep, user: ViewerDep, run_id: int) -> HTMLResponse:
    run, items = console.reconciliation_run(session, run_id)
    return _page(
        request,
        "payments/reconciliation_run.html",
        "payments_reconciliation",
        {"title": f"对账 {run.bill_date}", "run": run, "items": items},
    )
