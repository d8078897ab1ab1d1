"""Audit entries for what staff do to cases, the same from the console and the staff API.

Written in the transaction of the action: an action that is refused or rolled back leaves no entry.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.audit import service as audit
from core.models import AuditEntry, StaffUser

TARGET_KIND = "case"
VIEW_PHONE = "view_phone"


def record_case_action(
    session: Session,
    *,
    actor: StaffUser,
    action: str,
    case_no: str,
    via: str,
    client_ip: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """One entry per staff action on a case: the action's name, the case number and the channel
    (``console`` or ``api``); ``detail`` adds facts such as the resulting status (no personal data)."""
    return audit.record(
        session,
        actor=actor,
        action=action,
        target_kind=TARGET_KIND,
        target_id=case_no,
        detail={"via": via, **(detail or {})},
        client_ip=client_ip,
    )


def record_phone_view(session: Session, *, actor: StaffUser, case_no: str, client_ip: str = "") -> AuditEntry:
    """Showing a reporter's full phone number is audited (the number itself is not written down)."""
    return record_case_action(
        session, actor=actor, action=VIEW_PHONE, case_no=case_no, via="console", client_ip=client_ip
    )
