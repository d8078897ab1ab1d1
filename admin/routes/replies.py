"""Console pages: reply templates (答复模板), kept by administrators, picked by staff on the case page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from admin.deps import SessionDep, StaffDep, client_ip
from admin.errors import error_page
from admin.templating import render
from core.audit import service as audit
from core.errors import DomainError, Forbidden, Invalid
from core.models import ReplyTemplate, StaffRole, StaffUser
from core.replies import repository as replies_repository
from core.replies import service as replies
from core.replies.errors import ReplyTemplateNotFound
from core.replies.service import TemplateInput

router = APIRouter()

FormStr = Annotated[str, Form()]
FLASH = {"added": "模板已添加", "saved": "模板已保存", "deactivated": "模板已停用", "activated": "模板已启用"}


def _page(
    request: Request,
    session: Session,
    *,
    editing: ReplyTemplate | None = None,
    error: str = "",
    values: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    categories = replies_repository.minor_categories(session)
    return render(
        request,
        "case/reply_templates.html",
        {
            "title": "答复模板",
            "templates": replies_repository.all_templates(session),
            "categories": categories,
            "category_names": {c.id: f"{c.code} {c.name}" for c in categories},
            "editing": editing,
            "error": error,
            "values": values or {},
            "flash": FLASH.get(done, ""),
        },
        status_code=status_code,
    )


def _input(title: str, body: str, category_id: str) -> TemplateInput:
    value = category_id.strip()
    if value and not value.isdigit():
        raise Invalid("reply_template_invalid", "所选案件小类不存在")
    return TemplateInput(title=title, body=body, category_id=int(value) if value else None)


def _back(request: Request, done: str) -> RedirectResponse:
    return RedirectResponse(f"{request.url_for('reply_templates').path}?done={done}", status_code=303)


def _admin_only(user: StaffUser) -> None:
    # Checked in the route (not by a dependency) so that the 403 page renders while the session is open.
    if user.role is not StaffRole.ADMIN:
        raise Forbidden("role_forbidden", "您的角色无权访问该页面")


def _template_id(value: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise ReplyTemplateNotFound(0)
    return int(value)


@router.get("/reply-templates", response_class=HTMLResponse, name="reply_templates")
def reply_templates(
    request: Request, session: SessionDep, user: StaffDep, edit: str = "", done: str = ""
) -> HTMLResponse:
    try:
        _admin_only(user)
        editing = replies.get(session, _template_id(edit)) if edit else None
    except DomainError as exc:
        return error_page(request, exc)
    return _page(request, session, editing=editing, done=done)


@router.post("/reply-templates", response_class=HTMLResponse, name="reply_template_add")
def add_template(
    request: Request,
    session: SessionDep,
    user: StaffDep,
    title: FormStr = "",
    body: FormStr = "",
    category_id: FormStr = "",
) -> Response:
    values = {"title": title, "body": body, "category_id": category_id}
    try:
        _admin_only(user)
    except DomainError as exc:
        return error_page(request, exc)
    try:
        with session.begin_nested():
            template = replies.create(session, _input(title, body, category_id))
    except Invalid as exc:
        return _page(request, session, error=exc.message, values=values, status_code=422)
    audit.record(
        session,
        actor=user,
        action="reply_template_added",
        target_kind="reply_template",
        target_id=template.id,
        detail={"title": template.title},
        client_ip=client_ip(request),
    )
    return _back(request, "added")


@router.post("/reply-templates/{template_id}", response_class=HTMLResponse, name="reply_template_save")
def save_template(
    template_id: str,
    request: Request,
    session: SessionDep,
    user: StaffDep,
    title: FormStr = "",
    body: FormStr = "",
    category_id: FormStr = "",
) -> Response:
    try:
        _admin_only(user)
        existing = replies.get(session, _template_id(template_id))
    except DomainError as exc:
        return error_page(request, exc)
    assert existing.id is not None
    values = {"title": title, "body": body, "category_id": category_id}
    try:
        with session.begin_nested():
            template = replies.update(session, existing.id, _input(title, body, category_id))
    except Invalid as exc:
        session.expire_all()
        editing = replies.get(session, existing.id)
        return _page(request, session, editing=editing, error=exc.message, values=values, status_code=422)
    audit.record(
        session,
        actor=user,
        action="reply_template_saved",
        target_kind="reply_template",
        target_id=template.id,
        detail={"title": template.title},
        client_ip=client_ip(request),
    )
    return _back(request, "saved")


@router.post("/reply-templates/{template_id}/active", name="reply_template_active")
def set_template_active(
    template_id: str,
    request: Request,
    session: SessionDep,
    user: StaffDep,
    active: FormStr = "0",
) -> Response:
    on = active == "1"
    try:
        _admin_only(user)
        template = replies.set_active(session, _template_id(template_id), active=on)
    except DomainError as exc:
        return error_page(request, exc)
    audit.record(
        session,
        actor=user,
        action="reply_template_activated" if on else "reply_template_deactivated",
        target_kind="reply_template",
        target_id=template.id,
        client_ip=client_ip(request),
    )
    return _back(request, "activated" if on else "deactivated")
