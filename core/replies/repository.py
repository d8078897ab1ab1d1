"""Every query on reply templates."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models import Category, CategoryLevel, ReplyTemplate


def get(session: Session, template_id: int) -> ReplyTemplate | None:
    return session.get(ReplyTemplate, template_id)


def all_templates(session: Session) -> list[ReplyTemplate]:
    """Active ones first, then by title."""
    stmt = select(ReplyTemplate).order_by(col(ReplyTemplate.active).desc(), col(ReplyTemplate.title))
    return list(session.exec(stmt).all())


def active_for_category(session: Session, category_id: int | None) -> list[ReplyTemplate]:
    """Active templates for every category plus those of this category, the specific ones first."""
    scope: sa.ColumnElement[bool] = col(ReplyTemplate.category_id).is_(None)
    if category_id is not None:
        scope = sa.or_(scope, col(ReplyTemplate.category_id) == category_id)
    stmt = (
        select(ReplyTemplate)
        .where(col(ReplyTemplate.active).is_(True), scope)
        .order_by(col(ReplyTemplate.category_id).is_(None), col(ReplyTemplate.title))
    )
    return list(session.exec(stmt).all())


def minor_categories(session: Session) -> list[Category]:
    stmt = (
        select(Category)
        .where(col(Category.level) == CategoryLevel.MINOR, col(Category.active).is_(True))
        .order_by(col(Category.code))
    )
    return list(session.exec(stmt).all())


def category(session: Session, category_id: int) -> Category | None:
    return session.get(Category, category_id)
