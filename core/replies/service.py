"""Adding, editing and deactivating reply templates (administrators); never commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from core.kit.clock import utcnow
from core.models import CategoryLevel, ReplyTemplate
from core.replies import repository
from core.replies.errors import ReplyTemplateInvalid, ReplyTemplateNotFound

MAX_TITLE = 64
MAX_BODY = 1000


@dataclass(frozen=True)
class TemplateInput:
    title: str
    body: str
    category_id: int | None = None


def _clean(session: Session, data: TemplateInput) -> TemplateInput:
    title, body = data.title.strip(), data.body.strip()
    if not title:
        raise ReplyTemplateInvalid("title", "请填写模板标题")
    if len(title) > MAX_TITLE:
        raise ReplyTemplateInvalid("title", f"模板标题不能超过 {MAX_TITLE} 个字")
    if not body:
        raise ReplyTemplateInvalid("body", "请填写答复内容")
    if len(body) > MAX_BODY:
        raise ReplyTemplateInvalid("body", f"答复内容不能超过 {MAX_BODY} 个字")
    if data.category_id is not None:
        category = repository.category(session, data.category_id)
        if category is None or category.level is not CategoryLevel.MINOR:
            raise ReplyTemplateInvalid("category_id", "所选案件小类不存在")
    return TemplateInput(title=title, body=body, category_id=data.category_id)


def get(session: Session, template_id: int) -> ReplyTemplate:
    template = repository.get(session, template_id)
    if template is None:
        raise ReplyTemplateNotFound(template_id)
    return template


def create(session: Session, data: TemplateInput) -> ReplyTemplate:
    clean = _clean(session, data)
    template = ReplyTemplate(title=clean.title, body=clean.body, category_id=clean.category_id)
    session.add(template)
    session.flush()
    return template


def update(session: Session, template_id: int, data: TemplateInput) -> ReplyTemplate:
    template = get(session, template_id)
    clean = _clean(session, data)
    template.title, template.body, template.category_id = clean.title, clean.body, clean.category_id
    template.updated_at = utcnow()
    session.add(template)
    session.flush()
    return template


def set_active(session: Session, template_id: int, *, active: bool) -> ReplyTemplate:
    template = get(session, template_id)
    template.active = active
    template.updated_at = utcnow()
    session.add(template)
    session.flush()
    return template


def for_case(session: Session, category_id: int | None) -> list[ReplyTemplate]:
    """What a staff member may pick when answering a citizen about a case of this category."""
    return repository.active_for_category(session, category_id)
