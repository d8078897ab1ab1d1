"""Console pages: staff accounts (administrators only).

List with filters, create (temporary password shown once), edit, reset password, disable/enable,
supervisors' responsibility grids, CSV export and all-or-nothing CSV import. The rules and the audit
entries live in ``core.staff.accounts``; this module reads forms and renders pages.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from admin.deps import AdminDep, SessionDep, client_ip
from admin.routes.masterdata import UploadRefused, read_upload
from admin.templating import render
from core.audit import service as audit
from core.errors import DomainError
from core.kit.clock import to_local, utcnow
from core.masterdata.errors import ImportFailed
from core.models import StaffRole, StaffUser
from core.staff import accounts
from core.staff.accounts import AccountData, AccountFilter

router = APIRouter(prefix="/accounts")

PAGE_SIZE = 50
MAX_FIELD = 200  # longer form values are cut: the services check the real limits
ACCOUNT_UPLOAD_LIMIT = 2 * 1024 * 1024

FormText = Annotated[str, Form()]


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


def _role(value: str) -> StaffRole | None:
    try:
        return StaffRole(value)
    except ValueError:
        return None


def _choices(session: Session) -> dict[str, Any]:
    departments = accounts.departments_by_id(session)
    areas = accounts.areas_by_id(session)
    return {
        "roles": list(StaffRole),
        "departments": sorted(departments.values(), key=lambda d: d.code),
        "areas": sorted(areas.values(), key=lambda a: a.code),
        "departments_by_id": departments,
        "areas_by_id": areas,
        "password_rule": accounts.PASSWORD_RULE,
        "username_hint": accounts.USERNAME_HINT,
        "phone_hint": accounts.PHONE_HINT,
    }


def _data(
    display_name: str, role: str, department: str, area: str, phone: str, agent_interface: str = ""
) -> AccountData:
    parsed = _role(role)
    if parsed is None:
        from core.errors import Invalid

        raise Invalid("role_invalid", "请选择角色")
    return AccountData(
        display_name=display_name[:MAX_FIELD],
        role=parsed,
        department_id=_int(department),
        area_id=_int(area),
        phone=phone[:MAX_FIELD],
        agent_interface=agent_interface[:MAX_FIELD],
    )


def mask_phone(phone: str) -> str:
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else phone[:3] + "****"
    return phone


# --------------------------------------------------------------------------- list


@router.get("", response_class=HTMLResponse, name="accounts")
def account_list(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    role: str = "",
    department: str = "",
    area: str = "",
    active: str = "",
    q: str = "",
    page: int = 1,
) -> HTMLResponse:
    page = max(1, min(page, 10_000))
    where = AccountFilter(
        role=_role(role),
        department_id=_int(department),
        area_id=_int(area),
        city_wide=area == "city",
        active={"1": True, "0": False}.get(active),
        text=q[:64],
    )
    found = accounts.search(session, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    query = {"role": role, "department": department, "area": area, "active": active, "q": q[:64]}
    more = page * PAGE_SIZE < found.total

    def page_link(number: int) -> str:
        return "?" + urlencode({**{k: v for k, v in query.items() if v}, "page": number})

    return render(
        request,
        "accounts/list.html",
        {
            **_choices(session),
            "found": found,
            "filters": query,
            "page": page,
            "prev_link": page_link(page - 1) if page > 1 else "",
            "next_link": page_link(page + 1) if more else "",
            "mask_phone": mask_phone,
        },
    )


# --------------------------------------------------------------------------- create


def _new_form(
    request: Request,
    session: Session,
    *,
    values: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "accounts/new.html",
        {**_choices(session), "values": values or {}, "error": error},
        status_code=status,
    )


@router.get("/new", response_class=HTMLResponse, name="account_new")
def account_new(request: Request, session: SessionDep, user: AdminDep) -> HTMLResponse:
    return _new_form(request, session)


@router.post("/new", response_class=HTMLResponse, name="account_create")
def account_create(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    username: FormText = "",
    display_name: FormText = "",
    role: FormText = "",
    department: FormText = "",
    area: FormText = "",
    phone: FormText = "",
    agent_interface: FormText = "",
    password: FormText = "",
) -> HTMLResponse:
    values = {
        "username": username[:MAX_FIELD],
        "display_name": display_name[:MAX_FIELD],
        "role": role,
        "department": department,
        "area": area,
        "phone": phone[:MAX_FIELD],
        "agent_interface": agent_interface[:MAX_FIELD],
    }
    try:
        created = accounts.create(
            session,
            actor=user,
            username=username[:MAX_FIELD],
            data=_data(display_name, role, department, area, phone, agent_interface),
            password=password[:MAX_FIELD] or None,
            client_ip=client_ip(request),
        )
    except DomainError as exc:
        status = 409 if exc.code == "username_taken" else 422
        return _new_form(request, session, values=values, error=exc.message, status=status)
    return render(
        request,
        "accounts/created.html",
        {"created": [created], "generated": not password, **_choices(session)},
    )


# --------------------------------------------------------------------------- export and import


@router.get("/export.csv", name="accounts_export")
def accounts_export(request: Request, session: SessionDep, user: AdminDep) -> Response:
    text = accounts.export_csv(session)
    audit.record(
        session,
        actor=user,
        action="accounts_exported",
        target_kind="staff",
        detail={"rows": text.count("\n") - 1},
        client_ip=client_ip(request),
    )
    stamp = to_local(utcnow()).strftime("%Y%m%d")
    return Response(
        ("\ufeff" + text).encode("utf-8"),  # BOM: spreadsheet programs then read the Chinese correctly
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="accounts-{stamp}.csv"'},
    )


@router.get("/import", response_class=HTMLResponse, name="accounts_import_form")
def accounts_import_form(request: Request, session: SessionDep, user: AdminDep) -> HTMLResponse:
    return render(request, "accounts/import.html", {"columns": accounts.CSV_COLUMNS, **_choices(session)})


@router.post("/import", response_class=HTMLResponse, name="accounts_import")
def accounts_import(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    context: dict[str, Any] = {"columns": accounts.CSV_COLUMNS, **_choices(session)}
    try:
        upload = read_upload(file, suffixes=(".csv",), limit=ACCOUNT_UPLOAD_LIMIT)
    except UploadRefused as exc:
        return render(
            request, "accounts/import.html", {**context, "error": exc.message}, status_code=exc.status
        )
    try:
        text = upload.content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return render(
            request,
            "accounts/import.html",
            {**context, "error": "文件不是 UTF-8 编码，请在表格软件中另存为“CSV UTF-8”后再上传"},
            status_code=422,
        )
    try:
        created = accounts.import_csv(
            session, actor=user, text=text, file_name=upload.name, client_ip=client_ip(request)
        )
    except ImportFailed as exc:
        return render(
            request,
            "accounts/import.html",
            {
                **context,
                "error": "导入失败，未创建任何账号。请修改以下问题后重新上传。",
                "errors": exc.errors,
                "omitted": exc.details.get("omitted", 0),
            },
            status_code=422,
        )
    audit.record(
        session,
        actor=user,
        action="accounts_imported",
        target_kind="staff",
        detail={"file": upload.name, "sha256": upload.sha256, "created": len(created)},
        client_ip=client_ip(request),
    )
    return render(
        request, "accounts/created.html", {"created": created, "generated": True, **_choices(session)}
    )


# --------------------------------------------------------------------------- one account


def _detail(
    request: Request,
    session: Session,
    account: StaffUser,
    *,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    assert account.id is not None
    grids = accounts.grids_of(session, account.id) if account.role is StaffRole.SUPERVISOR else []
    assigned = {grid.id for grid in grids}
    available = (
        [grid for grid in accounts.all_grids(session) if grid.id not in assigned]
        if account.role is StaffRole.SUPERVISOR
        else []
    )
    values = extra.pop("values", None) or {
        "display_name": account.display_name,
        "role": account.role.value,
        "department": str(account.department_id or ""),
        "area": str(account.area_id or ""),
        "phone": account.phone,
        "agent_interface": account.agent_interface,
    }
    return render(
        request,
        "accounts/detail.html",
        {
            **_choices(session),
            "account": account,
            "values": values,
            "grids": grids,
            "available_grids": available,
            "me": getattr(request.state, "user", None),
            **extra,
        },
        status_code=status,
    )


def _back(request: Request, account_id: int, notice: str) -> RedirectResponse:
    url = request.url_for("account_detail", account_id=account_id).include_query_params(notice=notice)
    return RedirectResponse(str(url), status_code=303)


NOTICES = {
    "saved": "已保存",
    "unchanged": "没有修改任何内容",
    "disabled": "账号已停用，该账号的登录已全部退出",
    "enabled": "账号已启用",
    "grids": "责任网格已更新",
}


@router.get("/{account_id:int}", response_class=HTMLResponse, name="account_detail")
def account_detail(
    request: Request, session: SessionDep, user: AdminDep, account_id: int, notice: str = ""
) -> HTMLResponse:
    account = accounts.get(session, account_id)
    return _detail(request, session, account, notice=NOTICES.get(notice, ""), me=user)


@router.post("/{account_id:int}", name="account_update")
def account_update(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    account_id: int,
    display_name: FormText = "",
    role: FormText = "",
    department: FormText = "",
    area: FormText = "",
    phone: FormText = "",
    agent_interface: FormText = "",
) -> Response:
    account = accounts.get(session, account_id)
    values = {
        "display_name": display_name[:MAX_FIELD],
        "role": role,
        "department": department,
        "area": area,
        "phone": phone[:MAX_FIELD],
        "agent_interface": agent_interface[:MAX_FIELD],
    }
    try:
        changed = accounts.update(
            session,
            actor=user,
            account=account,
            data=_data(display_name, role, department, area, phone, agent_interface),
            client_ip=client_ip(request),
        )
    except DomainError as exc:
        session.refresh(account)  # the form's values stay on the page; the account shows what is stored
        status = (
            403 if exc.code == "account_self_lockout" else 409 if exc.code == "account_last_admin" else 422
        )
        return _detail(request, session, account, status=status, error=exc.message, values=values, me=user)
    return _back(request, account_id, "saved" if changed else "unchanged")


@router.post("/{account_id:int}/password", response_class=HTMLResponse, name="account_reset_password")
def account_reset_password(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    account_id: int,
    password: FormText = "",
    confirm: FormText = "",
) -> HTMLResponse:
    account = accounts.get(session, account_id)
    if password and password != confirm:
        return _detail(request, session, account, status=422, reset_error="两次输入的密码不一致", me=user)
    try:
        temporary = accounts.reset_password(
            session,
            actor=user,
            account=account,
            password=password[:MAX_FIELD] or None,
            client_ip=client_ip(request),
        )
    except DomainError as exc:
        status = 403 if exc.code == "account_self_lockout" else 422
        return _detail(request, session, account, status=status, reset_error=exc.message, me=user)
    return _detail(
        request,
        session,
        account,
        me=user,
        notice="密码已重置，该账号下次登录时必须修改密码；其已登录的会话已全部退出。",
        temporary_password=temporary if not password else "",
    )


@router.post("/{account_id:int}/disable", name="account_disable")
def account_disable(request: Request, session: SessionDep, user: AdminDep, account_id: int) -> Response:
    account = accounts.get(session, account_id)
    try:
        accounts.set_active(session, actor=user, account=account, active=False, client_ip=client_ip(request))
    except DomainError as exc:
        status = 403 if exc.code == "account_self_lockout" else 409
        return _detail(request, session, account, status=status, error=exc.message, me=user)
    return _back(request, account_id, "disabled")


@router.post("/{account_id:int}/enable", name="account_enable")
def account_enable(request: Request, session: SessionDep, user: AdminDep, account_id: int) -> Response:
    account = accounts.get(session, account_id)
    accounts.set_active(session, actor=user, account=account, active=True, client_ip=client_ip(request))
    return _back(request, account_id, "enabled")


@router.post("/{account_id:int}/grids", name="account_assign_grids")
def account_assign_grids(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    account_id: int,
    grid: Annotated[list[str] | None, Form()] = None,
) -> Response:
    account = accounts.get(session, account_id)
    ids = [value for value in (_int(item) for item in grid or []) if value is not None]
    if not ids:
        return _detail(request, session, account, status=422, grid_error="请选择要分配的责任网格", me=user)
    try:
        accounts.assign_grids(
            session, actor=user, account=account, grid_ids=ids, client_ip=client_ip(request)
        )
    except DomainError as exc:
        return _detail(request, session, account, status=422, grid_error=exc.message, me=user)
    return _back(request, account_id, "grids")


@router.post("/{account_id:int}/grids/remove", name="account_unassign_grids")
def account_unassign_grids(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    account_id: int,
    grid: Annotated[list[str] | None, Form()] = None,
) -> Response:
    account = accounts.get(session, account_id)
    ids = [value for value in (_int(item) for item in grid or []) if value is not None]
    accounts.unassign_grids(session, actor=user, account=account, grid_ids=ids, client_ip=client_ip(request))
    return _back(request, account_id, "grids")
