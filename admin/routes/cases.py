"""Console pages: one case (description, photos, map, history, deadlines, reporter) and its action forms.

Every page and action checks role and scope on the server: a case the user may not view is a 403 page,
an unknown case number a 404. Each action form carries the case version it was rendered with; a stale
submission is refused by the case service (409) and answered with the current state and a clear
message. Successful actions are audited and redirect back (303) with ``?done=<action>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from admin.deps import SessionDep, SettingsDep, StaffDep, client_ip
from admin.errors import error_page
from admin.templating import render
from core.audit.cases import record_case_action, record_phone_view
from core.cases import console as case_console
from core.cases.access import may_view
from core.cases.errors import CaseNotFound
from core.cases.photos import PhotoNotFound, Variant, photo_bytes
from core.cases.service import MAX_PHOTOS, ActionInput, get_case, perform
from core.cases.views import staff_view
from core.cases.workflow import ACTION_LABELS, STATUS_LABELS, Action
from core.errors import DomainError, ErrorKind, Forbidden, Invalid
from core.kit.clock import utcnow
from core.models import Case, Channel, Priority, StaffRole, StaffUser
from core.replies import service as replies
from core.settings import Settings
from core.uploads import service as uploads
from core.uploads.storage import storage_for

router = APIRouter()

CASE_NO = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
MAX_TEXT = 1000
ACTION_VALUES = frozenset(action.value for action in Action)
# Refused actions shown on the page (with the current state) rather than as an error page.
SHOWN_ON_PAGE = frozenset({ErrorKind.CONFLICT, ErrorKind.INVALID, ErrorKind.NOT_FOUND})
CHANNEL_LABELS = {
    Channel.SUPERVISOR.value: "监督员上报",
    Channel.MINIPROGRAM.value: "小程序",
    Channel.APP.value: "APP",
    Channel.WEB.value: "网站",
    Channel.HOTLINE.value: "热线",
    Channel.GOV12345.value: "12345",
    Channel.VIDEO.value: "视频",
    Channel.REFERRAL.value: "上级转办",
    Channel.OPEN311.value: "Open311",
}
LABELS = {
    "role_labels": {role.value: role.label for role in StaffRole},
    "status_labels": {status.value: label for status, label in STATUS_LABELS.items()},
    "channel_labels": CHANNEL_LABELS,
}


class CaseForbidden(Forbidden):
    def __init__(self) -> None:
        super().__init__("case_forbidden", "您无权查看该案件（不在您的职责范围内）")


class PhoneForbidden(Forbidden):
    def __init__(self) -> None:
        super().__init__("phone_forbidden", "您的角色无权查看完整号码")


def _load(session: Session, user: StaffUser, case_no: str) -> Case:
    if not CASE_NO.match(case_no):
        raise CaseNotFound(case_no[:32])
    case = get_case(session, case_no)
    if not may_view(session, user, case):
        raise CaseForbidden()
    return case


@dataclass(frozen=True)
class Refusal:
    """An action the service refused, shown above the forms."""

    action: str
    action_label: str
    code: str
    message: str
    conflict: bool
    submitted: dict[str, str]


FOLLOW_UP_LABELS = {1: "满意", 2: "基本满意", 3: "不满意"}


def _page(
    request: Request,
    session: Session,
    settings: Settings,
    user: StaffUser,
    case: Case,
    *,
    done: str = "",
    refusal: Refusal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    view = staff_view(session, settings, case, user)
    done_label = ACTION_LABELS[Action(done)] if done in ACTION_VALUES else ""
    pending = [r for r in view.requests if r.status == "pending"]
    return render(
        request,
        "case/page.html",
        {
            "title": f"案件 {case.case_no}",
            "case": view,
            "done_label": done_label,
            "refusal": refusal,
            "actions": _offered(view.allowed_actions, {r.kind for r in pending}),
            "photo_groups": case_console.photo_groups(session, case),
            "grid_geometry": case_console.unit_grid_geometry(session, case.unit_grid_code) or "",
            "deadlines": case_console.deadline_rows(session, settings, case, utcnow()),
            "phone_masked": case_console.mask_phone(case.reporter_phone),
            "may_see_phone": case_console.may_see_phone(user.role) and bool(case.reporter_phone),
            "calls": case_console.linked_calls(session, case),
            "follow_up": FOLLOW_UP_LABELS.get(case.follow_up_satisfaction or 0, ""),
            "departments": case_console.active_departments(session),
            "reply_templates": replies.for_case(session, case.category_id),
            "pending_requests": {r.kind: r for r in pending},
            "priorities": [(Priority.NORMAL.value, "一般"), (Priority.URGENT.value, "紧急")],
            "max_photos": MAX_PHOTOS,
            **LABELS,
        },
        status_code=status_code,
    )


# Decisions need a pending request of their kind; a new request needs none pending.
NEEDS_PENDING = {
    Action.APPROVE_EXTENSION: "extension",
    Action.REJECT_EXTENSION: "extension",
    Action.APPROVE_SUSPENSION: "suspension",
    Action.REJECT_SUSPENSION: "suspension",
}
NEEDS_NONE_PENDING = {Action.REQUEST_EXTENSION: "extension", Action.REQUEST_SUSPENSION: "suspension"}


def _offered(allowed: list[str], pending_kinds: set[str]) -> list[Action]:
    """The allowed actions that can succeed now (the service refuses the others with a conflict)."""
    actions = [Action(value) for value in allowed]
    return [
        action
        for action in actions
        if (action not in NEEDS_PENDING or NEEDS_PENDING[action] in pending_kinds)
        and (action not in NEEDS_NONE_PENDING or NEEDS_NONE_PENDING[action] not in pending_kinds)
    ]


@router.get("/cases/{case_no}", response_class=HTMLResponse, name="case_page")
def case_page(
    case_no: str, request: Request, session: SessionDep, settings: SettingsDep, user: StaffDep, done: str = ""
) -> HTMLResponse:
    try:
        case = _load(session, user, case_no)
    except DomainError as exc:
        return error_page(request, exc)
    return _page(request, session, settings, user, case, done=done)


def _text(value: str, label: str) -> str:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise Invalid("text_too_long", f"{label}不能超过 {MAX_TEXT} 个字")
    return text


def _int(value: str, code: str, message: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise Invalid(code, message)
    return int(value)


def _amount(value: str) -> Decimal | None:
    value = value.strip()
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise Invalid("extension_amount_invalid", "延期时长应为数字") from exc
    if not amount.is_finite():
        raise Invalid("extension_amount_invalid", "延期时长应为数字")
    return amount


def _passed(value: str) -> bool | None:
    return {"1": True, "0": False}.get(value.strip())


def _priority(value: str) -> Priority | None:
    value = value.strip()
    if not value:
        return None
    try:
        return Priority(value)
    except ValueError as exc:
        raise Invalid("priority_invalid", "紧急程度无效") from exc


def _photos(
    session: Session, settings: Settings, user: StaffUser, files: list[UploadFile] | None
) -> tuple[str, ...]:
    """Store the chosen photos as the user's uploads (their copies are made after commit)."""
    chosen = [f for f in files or [] if f.filename]
    if len(chosen) > MAX_PHOTOS:
        raise Invalid("too_many_photos", f"最多上传 {MAX_PHOTOS} 张照片")
    limits = settings.storage
    storage = storage_for(limits)
    ids: list[str] = []
    for part in chosen:
        data = part.file.read(limits.max_upload_bytes + 1)
        if not data:
            continue
        received = uploads.receive(session, storage=storage, limits=limits, owner=user, data=data)
        ids.append(received.upload.id)
    return tuple(ids)


FormStr = Annotated[str, Form()]


@dataclass(frozen=True)
class ActionForm:
    """The fields of the action forms, as submitted (each action reads those it needs)."""

    version: str = ""
    note: str = ""
    reason: str = ""
    reply: str = ""
    department: str = ""
    register_standard_id: str = ""
    priority: str = ""
    amount: str = ""
    passed: str = ""
    target_case_no: str = ""

    def kept(self) -> dict[str, str]:
        """What is put back into a re-rendered form."""
        return {
            "note": self.note,
            "reason": self.reason,
            "reply": self.reply,
            "amount": self.amount,
            "target_case_no": self.target_case_no,
        }

    def to_input(self, upload_ids: tuple[str, ...]) -> ActionInput:
        expected = _int(self.version, "version_missing", "表单已过期，请刷新页面后重试")
        if expected is None:
            raise Invalid("version_missing", "表单已过期，请刷新页面后重试")
        return ActionInput(
            note=_text(self.note, "备注"),
            reason=_text(self.reason, "原因"),
            reply=_text(self.reply, "答复"),
            department_code=self.department.strip() or None,
            register_standard_id=_int(self.register_standard_id, "register_standard_invalid", "立案条件无效"),
            priority=_priority(self.priority),
            upload_ids=upload_ids,
            amount=_amount(self.amount),
            passed=_passed(self.passed),
            target_case_no=self.target_case_no.strip() or None,
            expected_version=expected,
        )


@router.post("/cases/{case_no}/actions/{action}", response_class=HTMLResponse, name="case_action")
def case_action(
    case_no: str,
    action: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: StaffDep,
    version: FormStr = "",
    note: FormStr = "",
    reason: FormStr = "",
    reply: FormStr = "",
    department: FormStr = "",
    register_standard_id: FormStr = "",
    priority: FormStr = "",
    amount: FormStr = "",
    passed: FormStr = "",
    target_case_no: FormStr = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    form = ActionForm(
        version,
        note,
        reason,
        reply,
        department,
        register_standard_id,
        priority,
        amount,
        passed,
        target_case_no,
    )
    try:
        return _act(request, session, settings, user, case_no, action, form, photos)
    except DomainError as exc:  # refused before or outside the savepoint: nothing was written
        return error_page(request, exc)


def _act(
    request: Request,
    session: Session,
    settings: Settings,
    user: StaffUser,
    case_no: str,
    action: str,
    form: ActionForm,
    photos: list[UploadFile] | None,
) -> Response:
    case = _load(session, user, case_no)
    try:
        chosen = Action(action)
    except ValueError as exc:
        raise CaseNotFound(case_no) from exc
    try:
        # A savepoint: a refused action leaves nothing behind (its uploads and history row included),
        # and the page can then show the case as it is now.
        with session.begin_nested():
            upload_ids = _photos(session, settings, user, photos) if chosen is Action.HANDLE else ()
            data = form.to_input(upload_ids)
            result = perform(session, settings, case_no=case.case_no, actor=user, action=chosen, data=data)
            record_case_action(
                session,
                actor=user,
                action=chosen.value,
                case_no=result.case_no,
                via="console",
                client_ip=client_ip(request),
                detail={"status": result.status.value},
            )
    except DomainError as exc:
        if exc.kind not in SHOWN_ON_PAGE:
            raise
        session.expire_all()
        conflict = exc.kind is ErrorKind.CONFLICT
        refusal = Refusal(
            action=chosen.value,
            action_label=chosen.label,
            code=exc.code,
            message=exc.message,
            conflict=conflict,
            submitted=form.kept(),
        )
        current = _load(session, user, case_no)
        return _page(
            request, session, settings, user, current, refusal=refusal, status_code=409 if conflict else 422
        )
    target = request.url_for("case_page", case_no=case.case_no)
    return RedirectResponse(f"{target.path}?done={chosen.value}", status_code=303)


@router.post("/cases/{case_no}/phone", response_class=HTMLResponse, name="case_phone")
def reveal_phone(case_no: str, request: Request, session: SessionDep, user: StaffDep) -> HTMLResponse:
    try:
        if not case_console.may_see_phone(user.role):
            raise PhoneForbidden()
        case = _load(session, user, case_no)
    except DomainError as exc:
        return error_page(request, exc)
    record_phone_view(session, actor=user, case_no=case.case_no, client_ip=client_ip(request))
    return render(request, "case/phone.html", {"phone": case.reporter_phone})


@router.get("/cases/{case_no}/photos/{upload_id}/{variant}", name="case_photo")
def case_photo(
    case_no: str, upload_id: str, variant: str, session: SessionDep, settings: SettingsDep, user: StaffDep
) -> Response:
    case = _load(session, user, case_no)
    if variant not in {v.value for v in Variant} or not case_console.case_shows_upload(
        session, case, upload_id
    ):
        raise PhotoNotFound()
    data = photo_bytes(
        session, storage_for(settings.storage), principal=user, upload_id=upload_id, variant=Variant(variant)
    )
    return Response(data, media_type="image/jpeg")
