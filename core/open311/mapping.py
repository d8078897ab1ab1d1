"""Our categories and cases in Open311's words: services, attributes, service requests, statuses.

Public by nature: nothing here carries a reporter, a phone number, an e-mail, a staff name or a
photo of ours. Descriptions are masked like the public nearby view (long digit runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.cases.nearby import LONG_NUMBER
from core.cases.views import CITIZEN_STATUS
from core.kit.clock import to_local
from core.models import Case, CaseStatus, Category, Department, RegisterStandard
from core.open311.schemas import Fields

OPEN, CLOSED = "open", "closed"
CLOSED_STATUSES = frozenset({CaseStatus.CLOSED, CaseStatus.VOIDED, CaseStatus.MERGED})
OPEN_STATUSES = frozenset(set(CaseStatus) - CLOSED_STATUSES)
STANDARD_ATTRIBUTE = "standard"  # the one attribute of a category with register conditions


def w3c(value: datetime | None) -> str | None:
    """W3C datetime in Beijing time with its offset, to the second: ``2026-11-21T18:45:00+08:00``."""
    return to_local(value).replace(microsecond=0).isoformat() if value is not None else None


def status_of(case: Case) -> str:
    return CLOSED if case.status in CLOSED_STATUSES else OPEN


def statuses_for(names: Sequence[str]) -> list[CaseStatus]:
    wanted: set[CaseStatus] = set()
    for name in names:
        wanted |= CLOSED_STATUSES if name == CLOSED else OPEN_STATUSES
    return sorted(wanted)


def public_description(text: str) -> str:
    return LONG_NUMBER.sub(lambda match: match.group()[:3] + "****", text)


def service(category: Category, major: Category | None, standards: Sequence[RegisterStandard]) -> Fields:
    keywords = [name for name in (category.kind.label, major.name if major else "") if name]
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": "；".join(standard.condition for standard in standards),
        "metadata": bool(standards),
        "type": "realtime",
        "keywords": ",".join(keywords),
        "group": major.name if major else category.kind.label,
    }


def attributes(standards: Sequence[RegisterStandard]) -> list[Fields]:
    """A category with register conditions asks which one fits (optional, one value); others ask nothing."""
    if not standards:
        return []
    return [
        {
            "variable": True,
            "code": STANDARD_ATTRIBUTE,
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "请选择最符合现场情况的一项",
            "order": 1,
            "description": "现场情况",
            "values": [{"key": str(standard.seq), "name": standard.condition} for standard in standards],
        }
    ]


def service_definition(category: Category, standards: Sequence[RegisterStandard]) -> Fields:
    return {"service_code": category.code, "attributes": attributes(standards)}


def status_notes(case: Case) -> str:
    """The public reply once the case is over (as the reporter sees it), else its plain status."""
    if case.status in {CaseStatus.CLOSED, CaseStatus.VOIDED} and case.reply:
        return public_description(case.reply)
    return CITIZEN_STATUS[case.status]


def updated(case: Case) -> datetime:
    """The last change; for a closed request the time it was closed (as the specification says), so a
    later rating or edit of a closed case does not move it."""
    if case.status is CaseStatus.CLOSED and case.closed_at is not None:
        return case.closed_at
    return case.updated_at


def service_request(
    case: Case, category: Category | None, department: Department | None, media_url: str | None
) -> Fields:
    return {
        "service_request_id": case.case_no,
        "status": status_of(case),
        "status_notes": status_notes(case),
        "service_name": category.name if category else None,
        "service_code": category.code if category else None,
        "description": public_description(case.description),
        "agency_responsible": department.name if department else None,
        "service_notice": None,
        "requested_datetime": w3c(case.created_at),
        "updated_datetime": w3c(updated(case)),
        "expected_datetime": w3c(case.handle_due_at) if case.status not in CLOSED_STATUSES else None,
        "address": case.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": round(case.lat, 6),
        "long": round(case.lng, 6),
        "media_url": media_url or None,
    }
