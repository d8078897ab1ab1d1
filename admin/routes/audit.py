"""Console audit log (admins only): filter, page through newest first, export as CSV.

Looking at this page is not audited (it would drown the log in its own reads); an export is
(``audit_export``, with the filter and the number of rows).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from admin.deps import AdminDep, SessionDep, SettingsDep, client_ip
from admin.templating import render
from core.audit import repository
from core.audit import service as audit
from core.audit.repository import AuditFilter
from core.cases.workflow import ACTION_LABELS as CASE_ACTION_LABELS
from core.kit.clock import SHANGHAI, to_local, utcnow
from core.kit.text import CONTROL_CHARACTERS
from core.models import AuditEntry

router = APIRouter()

EXPORT_MAX_ROWS = 50_000
EXPORT_ACTION = "audit_export"

# Chinese names of the audited actions; an unknown code is shown as it is.
ACTION_LABELS: dict[str, str] = {
    "login": "登录",
    "login_failed": "登录失败",
    "login_locked": "登录锁定",
    "logout": "退出登录",
    "password_changed": "修改密码",
    "password_reset": "重置密码",
    "account_created": "创建账号",
    "account_updated": "修改账号",
    "account_disabled": "停用账号",
    "account_enabled": "启用账号",
    "accounts_imported": "批量导入账号",
    "accounts_exported": "导出账号",
    "grids_assigned": "分配责任网格",
    "grids_unassigned": "取消责任网格",
    "sessions_revoked": "强制下线",
    "view_phone": "查看完整电话号码",
    "call_task_call_now": "立即回拨",
    "call_task_cancel": "取消回拨/回访任务",
    "call_task_handled": "回拨任务标记已处理",
    "masterdata_import": "导入主数据",
    "masterdata_import_failed": "导入主数据失败",
    "masterdata_exported": "导出主数据",
    "calendar_day_set": "设置工作日历",
    "calendar_day_removed": "删除工作日历调整",
    "evaluation.export": "导出综合评价",
    "reply_template_added": "新增答复模板",
    "reply_template_saved": "修改答复模板",
    "reply_template_activated": "启用答复模板",
    "reward_item_created": "新增兑换商品",
    "reward_item_updated": "修改兑换商品",
    "reward_stock_adjusted": "调整兑换库存",
    "audit_export": "导出审计日志",
    # Case actions are recorded under the workflow's action names (core.audit.cases).
    "fine_created": "登记处罚决定书",
    "fine_cancelled": "撤销处罚决定书",
    "fine_deferral_approved": "批准暂缓/分期缴纳",
    "fines_exported": "导出罚款决定书",
    "payments_exported": "导出支付订单",
    "refund_requested": "申请退款",
    "refund_retried": "重新发起退款",
    "payment_notification_reviewed": "复核支付通知",
    **{action.value: f"案件{label}" for action, label in CASE_ACTION_LABELS.items()},
}

TARGET_LABELS: dict[str, str] = {
    "staff": "账号",
    "fine": "罚款决定书",
    "payment_order": "支付订单",
    "payment_notification": "支付通知",
    "case": "案件",
    "call_task": "回拨/回访任务",
    "citizen": "市民",
    "place": "便民设施",
    "calendar_day": "工作日历",
    "calendar_year": "工作日历年度",
    "masterdata": "主数据",
    "evaluation": "综合评价",
    "reply_template": "答复模板",
    "reward_item": "兑换商品",
    "redemption": "积分兑换",
    "audit": "审计日志",
}

FIELD_LIMITS = {"username": 64, "action": 48, "target_kind": 32, "target_id": 64}
FILTER_FIELDS = ("username", "action", "target_kind", "target_id", "since", "until")


def action_label(code: str) -> str:
    return ACTION_LABELS.get(code, code)


class FilterError(ValueError):
    pass


@dataclass
class Query:
    """The filter as typed (to refill the form) and as the repository wants it."""

    values: dict[str, str] = field(default_factory=dict)
    where: AuditFilter = field(default_factory=AuditFilter)
    before: int | None = None
    after: int | None = None


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{label}格式不正确，请按“年-月-日”填写") from None


def _page_id(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 10:
        raise FilterError("翻页参数不正确，请重新查询")
    return int(value)


def parse_query(params: Mapping[str, Any]) -> Query:
    """Reads the filter from query or form fields; raises ``FilterError`` with a Chinese message."""
    values = {name: str(params.get(name) or "").strip() for name in FILTER_FIELDS}
    query = Query(values=values)
    for name, limit in FIELD_LIMITS.items():
        if len(values[name]) > limit:
            raise FilterError(f"筛选条件过长（最多 {limit} 个字符）")
    if any(CONTROL_CHARACTERS.search(value) for value in values.values()):
        raise FilterError("筛选条件含有不可见的控制字符")
    since = _day(values["since"], "起始日期")
    until = _day(values["until"], "截止日期")
    if since and until and since > until:
        raise FilterError("起始日期不能晚于截止日期")
    query.where = AuditFilter(
        username=values["username"],
        action=values["action"],
        target_kind=values["target_kind"],
        target_id=values["target_id"],
        # Local (Asia/Shanghai) calendar days; the end day is included.
        since=datetime.combine(since, time(), SHANGHAI) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), SHANGHAI) if until else None,
    )
    query.before = _page_id(str(params.get("before") or ""))
    query.after = _page_id(str(params.get("after") or ""))
    return query


def _page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    query: Query,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    entries: list[AuditEntry] = []
    newer = older = False
    if not error:
        size = settings.console.page_size
        entries = repository.search(
            session, query.where, before_id=query.before, after_id=query.after, limit=size
        )
        if entries:
            newer = repository.exists_where(session, query.where, after_id=entries[0].id)
            older = repository.exists_where(session, query.where, before_id=entries[-1].id)
    actions = repository.actions(session)
    if query.values.get("action") and query.values["action"] not in actions:
        actions.append(query.values["action"])
    return render(
        request,
        "audit/index.html",
        {
            "title": "审计日志",
            "entries": entries,
            "filters": query.values,
            "actions": [(code, action_label(code)) for code in actions],
            "target_kinds": [
                (kind, TARGET_LABELS.get(kind, kind)) for kind in repository.target_kinds(session)
            ],
            "action_label": action_label,
            "target_label": lambda kind: TARGET_LABELS.get(kind, kind),
            "newer": newer,
            "older": older,
            "error": error,
            "export_max": EXPORT_MAX_ROWS,
        },
        status_code=status_code,
    )


@router.get("/audit", response_class=HTMLResponse, name="audit")
def audit_page(request: Request, session: SessionDep, settings: SettingsDep, user: AdminDep) -> HTMLResponse:
    try:
        query = parse_query(request.query_params)
    except FilterError as exc:
        return _refused(request, session, settings, request.query_params, exc)
    return _page(request, session, settings, query)


def _refused(
    request: Request, session: SessionDep, settings: SettingsDep, params: Mapping[str, Any], exc: FilterError
) -> HTMLResponse:
    """The page again with the filter as typed (cut short) and the reason, status 422."""
    values = {name: str(params.get(name) or "")[:100] for name in FILTER_FIELDS}
    return _page(request, session, settings, Query(values=values), error=str(exc), status_code=422)


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (a typed username may start with "=")."""
    return f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def export_csv(entries: list[AuditEntry]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["时间", "账号", "账号ID", "操作", "操作代码", "对象类型", "对象ID", "详情", "IP"])
    for entry in entries:
        writer.writerow(
            [
                to_local(entry.at).strftime("%Y-%m-%d %H:%M:%S"),
                _cell(entry.username),
                entry.staff_id or "",
                action_label(entry.action),
                entry.action,
                TARGET_LABELS.get(entry.target_kind, entry.target_kind),
                _cell(entry.target_id),
                _cell(entry.detail),
                entry.client_ip,
            ]
        )
    # UTF-8 with a byte order mark: Excel then opens the Chinese text correctly.
    return out.getvalue().encode("utf-8-sig")


@router.post("/audit/export", name="audit_export")
def audit_export(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminDep,
    username: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    target_kind: Annotated[str, Form()] = "",
    target_id: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "username": username,
        "action": action,
        "target_kind": target_kind,
        "target_id": target_id,
        "since": since,
        "until": until,
    }
    try:
        query = parse_query(form)
    except FilterError as exc:
        return _refused(request, session, settings, form, exc)
    total = repository.count(session, query.where)
    if total > EXPORT_MAX_ROWS:
        message = f"符合条件的记录有 {total} 条，超过单次导出上限 {EXPORT_MAX_ROWS} 条，请缩小筛选范围"
        return _page(request, session, settings, query, error=message, status_code=422)
    entries = list(repository.iterate(session, query.where))
    audit.record(
        session,
        actor=user,
        action=EXPORT_ACTION,
        target_kind="audit",
        detail={"filter": {k: v for k, v in query.values.items() if v}, "rows": len(entries)},
        client_ip=client_ip(request),
    )
    stamp = to_local(utcnow()).strftime("%Y%m%d-%H%M%S")
    return Response(
        export_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
