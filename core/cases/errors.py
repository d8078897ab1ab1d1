"""Case errors with stable codes."""

from __future__ import annotations

from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import CaseStatus


class CaseNotFound(NotFound):
    def __init__(self, case_no: str) -> None:
        super().__init__("case_not_found", f"案件 {case_no} 不存在", case_no=case_no)


class IllegalTransition(Conflict):
    def __init__(self, status: CaseStatus, action: str, status_label: str, action_label: str) -> None:
        super().__init__(
            "illegal_transition",
            f"案件当前状态为“{status_label}”，不能执行“{action_label}”",
            status=status.value,
            action=action,
        )


class ActionForbidden(Forbidden):
    def __init__(self, action_label: str, reason: str = "") -> None:
        super().__init__("action_forbidden", f"您没有权限执行“{action_label}”{reason}")


class ConcurrentUpdate(Conflict):
    def __init__(self) -> None:
        super().__init__("conflict", "案件已被他人更新，请刷新后重试")


class ReasonRequired(Invalid):
    def __init__(self, action_label: str) -> None:
        super().__init__("reason_required", f"“{action_label}”必须填写原因")


class PhotosRequired(Invalid):
    def __init__(self) -> None:
        super().__init__("photos_required", "处置反馈必须上传处置后照片")
