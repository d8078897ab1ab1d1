"""Field parsers shared by the importers: each returns the value or records an error and returns None."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from sqlmodel import SQLModel

from core.masterdata.errors import ErrorCollector

E = TypeVar("E", bound=StrEnum)

# C0 controls except tab and line breaks (PostgreSQL refuses NUL; none belongs in master data).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INT32_MAX = 2**31 - 1

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "是", "有"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "否", "无", ""})


def required(errors: ErrorCollector, row: int, name: str, value: str) -> str | None:
    if not value:
        errors.add(row, name, "不能为空")
        return None
    return value


def pattern(
    errors: ErrorCollector, row: int, name: str, value: str, regex: str, hint: str, *, unit: str = "行"
) -> str | None:
    if not re.fullmatch(regex, value):
        errors.add(row, name, f"“{value}”格式不正确，应为{hint}", unit=unit)
        return None
    return value


def column_length(model: type[SQLModel], column: str) -> int:
    """The VARCHAR length of a model's column: file values are checked against the real schema."""
    length = getattr(model.__table__.c[column].type, "length", None)  # type: ignore[attr-defined]
    if not isinstance(length, int):
        raise TypeError(f"{model.__name__}.{column} has no length")
    return length


def text(
    errors: ErrorCollector, row: int, name: str, value: str, *, model: type[SQLModel], required: bool = True
) -> str | None:
    """A text field: present when required, and no longer than its column."""
    if required and not value:
        errors.add(row, name, "不能为空")
        return None
    if CONTROL_CHARACTERS.search(value):
        errors.add(row, name, "含有不可见的控制字符")
        return None
    limit = column_length(model, name)
    if len(value) > limit:
        errors.add(row, name, f"长度 {len(value)} 超过上限 {limit} 个字符")
        return None
    return value


def enum_value(errors: ErrorCollector, row: int, name: str, value: str, enum: type[E]) -> E | None:
    try:
        return enum(value)
    except ValueError:
        allowed = "、".join(member.value for member in enum)
        errors.add(row, name, f"“{value}”不是允许的值（{allowed}）")
        return None


def boolean(errors: ErrorCollector, row: int, name: str, value: str) -> bool | None:
    lowered = value.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    errors.add(row, name, f"“{value}”不是布尔值（true/false）")
    return None


def integer(
    errors: ErrorCollector,
    row: int,
    name: str,
    value: str,
    *,
    minimum: int | None = None,
    optional: bool = False,
) -> int | None:
    if optional and value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        errors.add(row, name, f"“{value}”不是整数")
        return None
    if minimum is not None and number < minimum:
        errors.add(row, name, f"{number} 小于最小值 {minimum}")
        return None
    if number > INT32_MAX:
        errors.add(row, name, f"{number} 超过最大值 {INT32_MAX}")
        return None
    return number


def decimal(
    errors: ErrorCollector, row: int, name: str, value: str, *, low: Decimal, high: Decimal, places: int
) -> Decimal | None:
    """A decimal within [low, high] with at most ``places`` decimals (more would be rounded by the column)."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        errors.add(row, name, f"“{value}”不是数字")
        return None
    if not number.is_finite() or not low <= number <= high:
        errors.add(row, name, f"{value} 超出范围（{low}–{high}）")
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        errors.add(row, name, f"{value} 最多保留 {places} 位小数")
        return None
    return number


def coordinate(errors: ErrorCollector, row: int, name: str, value: str, *, limit: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        errors.add(row, name, f"“{value}”不是数字")
        return None
    if not -limit <= number <= limit:
        errors.add(row, name, f"{value} 超出范围（±{limit}）")
        return None
    return number
