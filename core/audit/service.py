"""Writing audit entries, in the same transaction as the action they describe (an action that rolls
back leaves no entry; a refused login is committed by the entry point like the failure count)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from core.models import AuditEntry, StaffUser

MAX_DETAIL_CHARS = 1000


def record(
    session: Session,
    *,
    actor: StaffUser | None,
    action: str,
    target_kind: str = "",
    target_id: object = "",
    detail: dict[str, Any] | str = "",
    client_ip: str = "",
    username: str = "",
) -> AuditEntry:
    text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, sort_keys=True)
    entry = AuditEntry(
        staff_id=actor.id if actor is not None else None,
        username=(actor.username if actor is not None else username)[:64],
        action=action[:48],
        target_kind=target_kind[:32],
        target_id=str(target_id)[:64],
        detail=text[:MAX_DETAIL_CHARS],
        client_ip=client_ip[:64],
    )
    session.add(entry)
    return entry
