"""Open311 GeoReport v2: services from our categories, public look-ups of cases, and the management
of the clients' API keys (filing a request: ``core.open311.filing``).

Services take the session first and never commit.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from core.cases import repository as case_repository
from core.kit.clock import utcnow
from core.models import Case, Category, RegisterStandard
from core.models.open311 import Open311Client
from core.open311 import mapping, repository
from core.open311.errors import (
    BadParameter,
    ClientNameTaken,
    ClientNotFound,
    ClientRateLimited,
    InvalidApiKey,
    InvalidClientName,
    InvalidRateLimit,
    RequestNotFound,
    ServiceNotFound,
    TokenNotFound,
)
from core.open311.schemas import Fields, RequestQuery

API_KEY_BYTES = 32
NAME_MAX = 128
MAX_RATE = 100_000
DEFAULT_WINDOW = timedelta(days=90)  # the specification's default and widest date range
MAX_PAGE_SIZE = 100
MAX_PAGE = 1000
RATE_WINDOW = timedelta(hours=1)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --- clients ----------------------------------------------------------------------------------------


def authenticate(session: Session, *, api_key: str | None) -> Open311Client:
    """The enabled client holding this key (``invalid_api_key`` for anything else)."""
    if not api_key or len(api_key) > 256:
        raise InvalidApiKey()
    client = repository.client_by_key_hash(session, hash_api_key(api_key))
    if client is None or not client.enabled:
        raise InvalidApiKey()
    return client


def check_rate(session: Session, client: Open311Client) -> None:
    """The client's hourly limit, counted in the database (holds across API processes)."""
    assert client.id is not None
    now = utcnow()
    count, oldest = repository.requests_since(session, client.id, now - RATE_WINDOW)
    if count >= client.requests_per_hour:
        wait = (oldest + RATE_WINDOW - now).total_seconds() if oldest is not None else 60.0
        raise ClientRateLimited(math.ceil(wait))


def _checked_rate(per_hour: int) -> int:
    if not 1 <= per_hour <= MAX_RATE:
        raise InvalidRateLimit()
    return per_hour


def add_client(session: Session, *, name: str, requests_per_hour: int) -> tuple[Open311Client, str]:
    """A new enabled client and its plaintext API key, which cannot be shown again."""
    clean = name.strip()
    if not clean:
        raise InvalidClientName("客户端名称不能为空")
    if len(clean) > NAME_MAX:
        raise InvalidClientName(f"客户端名称不能超过 {NAME_MAX} 个字符")
    existing = repository.client_by_name(session, clean)
    if existing is not None and existing.id is not None:
        raise ClientNameTaken(clean, existing.id)
    key = secrets.token_urlsafe(API_KEY_BYTES)
    client = Open311Client(
        name=clean, api_key_hash=hash_api_key(key), requests_per_hour=_checked_rate(requests_per_hour)
    )
    repository.add(session, client)
    return client, key


def get_client(session: Session, client_id: int) -> Open311Client:
    client = repository.client(session, client_id)
    if client is None:
        raise ClientNotFound(client_id)
    return client


@dataclass(frozen=True, slots=True)
class ClientSummary:
    id: int
    name: str
    enabled: bool
    requests_per_hour: int
    requests: int


def list_clients(session: Session) -> list[ClientSummary]:
    return [
        ClientSummary(
            id=client.id or 0,
            name=client.name,
            enabled=client.enabled,
            requests_per_hour=client.requests_per_hour,
            requests=count,
        )
        for client, count in repository.clients_with_counts(session)
    ]


def rotate_key(session: Session, *, client_id: int) -> tuple[Open311Client, str]:
    """Replace the client's key: the old one fails from the commit on; the new one is returned once."""
    client = get_client(session, client_id)
    key = secrets.token_urlsafe(API_KEY_BYTES)
    client.api_key_hash = hash_api_key(key)
    client.updated_at = utcnow()
    repository.add(session, client)
    return client, key


def set_enabled(session: Session, *, client_id: int, enabled: bool) -> tuple[Open311Client, bool]:
    """Enable or disable a client; returns it and whether anything changed (repeating is harmless)."""
    client = get_client(session, client_id)
    if client.enabled == enabled:
        return client, False
    client.enabled = enabled
    client.updated_at = utcnow()
    repository.add(session, client)
    return client, True


# --- services ---------------------------------------------------------------------------------------


def _standards(session: Session) -> dict[int, list[RegisterStandard]]:
    by_category: dict[int, list[RegisterStandard]] = {}
    for standard in case_repository.all_standards(session):
        by_category.setdefault(standard.category_id, []).append(standard)
    return by_category


def changeset(session: Session, *, interface_changed: datetime) -> str:
    """The discovery's changeset: when clients should refresh their cached services and definitions
    (the later of this interface's last change and the last change of a category or condition)."""
    changed = repository.definitions_changed_at(session)
    latest = max(interface_changed, changed) if changed is not None else interface_changed
    return mapping.w3c(latest) or ""


def services(session: Session) -> list[Fields]:
    """Every active minor category, by code."""
    minors = repository.active_minor_categories(session)
    majors = case_repository.categories_by_ids(
        session, {minor.parent_id for minor in minors if minor.parent_id is not None}
    )
    standards = _standards(session)
    return [
        mapping.service(
            minor,
            majors.get(minor.parent_id) if minor.parent_id is not None else None,
            standards.get(minor.id or 0, []),
        )
        for minor in minors
    ]


def _service(session: Session, code: str) -> Category:
    category = repository.active_minor_by_code(session, code) if len(code) <= 16 else None
    if category is None:
        raise ServiceNotFound(code)
    return category


def service_definition(session: Session, *, service_code: str) -> Fields:
    category = _service(session, service_code)
    assert category.id is not None
    return mapping.service_definition(category, case_repository.standards_of(session, category.id))


# --- requests ---------------------------------------------------------------------------------------


def token_answer(session: Session, *, token: str) -> Fields:
    found = repository.token(session, token) if len(token) <= 64 else None
    if found is None:
        raise TokenNotFound()
    row, case_no = found
    return {"service_request_id": case_no, "token": row.token}


# --- public look-ups --------------------------------------------------------------------------------


def _answers(session: Session, cases: list[Case]) -> list[Fields]:
    categories = case_repository.categories_by_ids(session, {case.category_id for case in cases})
    departments = case_repository.departments_by_ids(
        session, {case.department_id for case in cases if case.department_id is not None}
    )
    media = repository.media_urls(session, {case.id for case in cases if case.id is not None})
    return [
        mapping.service_request(
            case,
            categories.get(case.category_id),
            departments.get(case.department_id) if case.department_id is not None else None,
            media.get(case.id or 0),
        )
        for case in cases
    ]


def search_requests(session: Session, *, query: RequestQuery) -> list[Fields]:
    """Public cases of any channel. By ids, the other filters are ignored (as the specification says);
    otherwise the date range defaults to the last 90 days and may not span more than 90 days."""
    if not 1 <= query.page <= MAX_PAGE:
        raise BadParameter("page", f"应为 1 到 {MAX_PAGE} 之间的整数")
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        raise BadParameter("page_size", f"应为 1 到 {MAX_PAGE_SIZE} 之间的整数")
    offset = (query.page - 1) * query.page_size
    if query.service_request_ids is not None:
        where = repository.RequestFilter(case_nos=query.service_request_ids)
    else:
        start, end = query.start_date, query.end_date
        if start is None and end is None:
            end = utcnow()
        if start is None:
            assert end is not None
            start = end - DEFAULT_WINDOW
        if end is None:
            end = start + DEFAULT_WINDOW
        if end < start:
            raise BadParameter("end_date", "不能早于 start_date")
        if end - start > DEFAULT_WINDOW:
            raise BadParameter("start_date", "查询时间范围不能超过 90 天")
        where = repository.RequestFilter(
            category_ids=repository.minor_ids_by_codes(session, query.service_codes)
            if query.service_codes is not None
            else None,
            start=start,
            end=end,
            statuses=mapping.statuses_for(query.statuses) if query.statuses is not None else None,
        )
    cases = repository.public_cases(session, where, limit=query.page_size, offset=offset)
    return _answers(session, cases)


def get_request(session: Session, *, service_request_id: str) -> list[Fields]:
    cases = repository.public_cases(
        session, repository.RequestFilter(case_nos=[service_request_id[:32]]), limit=1, offset=0
    )
    if not cases:
        raise RequestNotFound(service_request_id)
    return _answers(session, cases)
