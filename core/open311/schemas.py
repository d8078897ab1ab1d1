"""What Open311 clients send (parsed and bounded by the router) and the shapes we answer with.

Answers are plain mappings in the specification's field order, rendered as JSON or as XML
(``core.open311.xml``) by the router; the field names are the specification's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.open311.xml import Value

Fields = Mapping[str, Value]

MAX_DESCRIPTION_CHARS = 4000  # the specification's limit; ours (core.cases.intake) is lower and wins
MAX_MEDIA_URL = 1024
MAX_TEXT_FIELD = 256


@dataclass(frozen=True)
class PostedRequest:
    """``POST requests``: the fields of the form (strings as sent, stripped; empty means absent)."""

    service_code: str
    lat: float | None = None
    long: float | None = None
    address_string: str = ""
    description: str = ""
    attributes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    media_url: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class RequestQuery:
    """``GET requests``: the standard filters plus our bounded pagination."""

    service_request_ids: Sequence[str] | None = None
    service_codes: Sequence[str] | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    statuses: Sequence[str] | None = None  # "open" / "closed"
    page: int = 1
    page_size: int = 50
