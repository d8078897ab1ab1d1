"""What the console's filtered, paged lists share (``admin.routes.fines``, ``admin.routes.payments``):
reading the filter form (refused input is a ``FilterError`` carrying the Chinese message), and the
previous/next page links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from core.errors import DomainError
from core.kit.text import CONTROL_CHARACTERS
from payments.fines import console as fines

MAX_SEARCH = 64


class FilterError(ValueError):
    pass


def form_values(params: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The filter fields as submitted, stripped."""
    return {name: str(params.get(name) or "").strip() for name in names}


def echoed_values(params: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """Refused filter fields as they are shown back (cut to size)."""
    return {name: str(params.get(name) or "")[:MAX_SEARCH] for name in names}


def check_text(values: Mapping[str, str]) -> None:
    """The search text's length and no control characters in any field."""
    if len(values["q"]) > MAX_SEARCH:
        raise FilterError(f"搜索内容过长（最多 {MAX_SEARCH} 个字符）")
    if any(CONTROL_CHARACTERS.search(value) for value in values.values()):
        raise FilterError("筛选条件含有不可见的控制字符")


def _day(value: str, label: str) -> date | None:
    try:
        return fines.parse_day(value, field_name="", label=label)
    except DomainError as exc:
        raise FilterError(exc.message) from None


def day_range(values: Mapping[str, str]) -> tuple[date | None, date | None]:
    """The ``since`` and ``until`` days (either may be empty), in order."""
    since = _day(values["since"], "起始日期")
    until = _day(values["until"], "截止日期")
    if since and until and since > until:
        raise FilterError("起始日期不能晚于截止日期")
    return since, until


def choice(value: str, choices: type[Any], message: str) -> Any:
    """``choices(value)`` (an enum), None for an empty value; ``message`` refuses anything else."""
    if not value:
        return None
    try:
        return choices(value)
    except ValueError:
        raise FilterError(message) from None


def parse_page(value: str) -> int:
    if not value:
        return 1
    if not value.isdigit() or len(value) > 6 or int(value) < 1:
        raise FilterError("页码不正确，请重新查询")
    return int(value)


def page_of(params: Mapping[str, Any]) -> int:
    """The ``page`` parameter (1 when absent)."""
    return parse_page(str(params.get("page") or "").strip())


def base_query(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """The filled-in filters, sorted: what the page links and the export link carry."""
    return [(name, value) for name, value in sorted(values.items()) if value]


@dataclass
class Paging:
    page: int
    pages: int
    prev_query: str
    next_query: str


def paging(base: list[tuple[str, str]], page: int, total: int, size: int) -> Paging:
    pages = max(1, -(-total // size))
    return Paging(
        page=page,
        pages=pages,
        prev_query=urlencode([*base, ("page", str(page - 1))]) if page > 1 else "",
        next_query=urlencode([*base, ("page", str(page + 1))]) if page < pages else "",
    )


@dataclass
class OneChoice:
    """A list filtered by one optional enum field: the value as submitted, the member (None: all), the
    page, and the message refusing either (then the list is empty and its links carry no filter)."""

    name: str
    value: str
    selected: Any
    page: int
    error: str

    @property
    def base(self) -> list[tuple[str, str]]:
        return [(self.name, self.value)] if self.value and not self.error else []


def one_choice(params: Mapping[str, Any], name: str, choices: type[Any], message: str) -> OneChoice:
    value = str(params.get(name) or "").strip()
    try:
        selected = choice(value, choices, message)
        page = page_of(params)
    except FilterError as exc:
        return OneChoice(name, value, None, 1, str(exc))
    return OneChoice(name, value, selected, page, "")
