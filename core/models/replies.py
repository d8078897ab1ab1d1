"""Reply templates (答复模板): texts staff pick from when answering a citizen, edited by administrators."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field

from core.models.base import Timestamped


class ReplyTemplate(Timestamped, table=True):
    """A reusable answer to a citizen; with a category it is offered only on that category's cases."""

    __tablename__ = "reply_template"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=64)
    body: str = Field(sa_type=sa.Text)
    category_id: int | None = Field(default=None, foreign_key="category.id", index=True)
    active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
