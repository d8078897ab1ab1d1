"""Reply template errors with stable codes."""

from __future__ import annotations

from core.errors import Invalid, NotFound


class ReplyTemplateNotFound(NotFound):
    def __init__(self, template_id: int) -> None:
        super().__init__("reply_template_not_found", "答复模板不存在", template_id=template_id)


class ReplyTemplateInvalid(Invalid):
    def __init__(self, field: str, message: str) -> None:
        super().__init__("reply_template_invalid", message, field=field)
