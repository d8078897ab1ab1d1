"""Reading what an Open311 client sends: bounded text without control characters, numbers, W3C
datetimes, comma lists, and the fields of ``POST requests`` (``attribute[code]`` included).

Pure functions on strings (the router reads the body and the query); every refusal is a
``BadParameter`` naming the parameter.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from core.kit.text import CONTROL_CHARACTERS
from core.open311.errors import BadParameter
from core.open311.schemas import MAX_DESCRIPTION_CHARS, MAX_MEDIA_URL, MAX_TEXT_FIELD, PostedRequest

UNENCODED_PLUS = re.compile(r" (\d{2}:?\d{2})$")
MIN_YEAR, MAX_YEAR = 2000, 2100  # far outside any case; keeps date arithmetic from overflowing
ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,64})\](\[\])?$")
MAX_LIST_ITEMS = 100


def clean(name: str, value: str, max_length: int = MAX_TEXT_FIELD) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise BadParameter(name, "含有不可见的控制字符")
    if len(value) > max_length:
        raise BadParameter(name, f"不能超过 {max_length} 个字符")
    return value.strip()


def number(name: str, value: str) -> float | None:
    if not value.strip():
        return None
    try:
        parsed = float(value)
    except ValueError:
        raise BadParameter(name, "应为数字") from None
    if not math.isfinite(parsed):
        raise BadParameter(name, "应为有限数字")
    return parsed


def w3c(name: str, value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    text = UNENCODED_PLUS.sub(r"+\1", clean(name, value, 64))  # "+08:00" unencoded arrives as " 08:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, "应为带时区的 W3C 日期时间，如 2026-11-21T08:00:00+08:00") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadParameter(name, "必须带时区（Z 或 ±HH:MM）")
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise BadParameter(name, f"年份应在 {MIN_YEAR}–{MAX_YEAR} 之间")
    return moment


def comma_list(name: str, value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [item.strip() for item in clean(name, value, 2048).split(",") if item.strip()]
    if len(items) > MAX_LIST_ITEMS:
        raise BadParameter(name, f"最多 {MAX_LIST_ITEMS} 项")
    return items


def positive_int(name: str, value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    if not value.strip().isdigit() or len(value.strip()) > 9:
        raise BadParameter(name, "应为正整数")
    return int(value)


def api_key(pairs: list[tuple[str, str]]) -> str | None:
    """The first ``api_key`` field; checked before anything else of the form is looked at."""
    key = next((value for name, value in pairs if name == "api_key"), "")
    return key.strip() or None


def posted_request(pairs: list[tuple[str, str]]) -> PostedRequest:
    """The fields of ``POST requests`` (the first of a repeated field counts; attributes collect)."""
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for key, value in pairs:
        matched = ATTRIBUTE.fullmatch(key)
        if matched:
            attributes.setdefault(matched.group(1), []).append(clean(key, value))
        else:
            fields.setdefault(key, value)

    def text(name: str, max_length: int = MAX_TEXT_FIELD) -> str:
        return clean(name, fields.get(name, ""), max_length)

    return PostedRequest(
        service_code=text("service_code", 64),
        lat=number("lat", text("lat", 32)),
        long=number("long", text("long", 32)),
        address_string=text("address_string"),
        description=text("description", MAX_DESCRIPTION_CHARS),
        attributes=attributes,
        media_url=text("media_url", MAX_MEDIA_URL),
        email=text("email"),
        first_name=text("first_name", 64),
        last_name=text("last_name", 64),
        phone=text("phone", 32),
    )
