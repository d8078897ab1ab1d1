"""Reading the rows of a provider's CSV bill (shared by both parsers)."""

from __future__ import annotations

import csv
import io

from payments.providers import yuan_to_fen
from payments.reconcile.errors import BillUnreadable


def csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank row."""
    reader = csv.reader(io.StringIO(text))
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise BillUnreadable("CSV 格式错误", line=reader.line_num, error=str(exc)) from exc
    return rows


def column_index(header: list[str], required: tuple[str, ...]) -> dict[str, int]:
    index = {name: position for position, name in enumerate(header)}
    missing = [name for name in required if name not in index]
    if missing:
        raise BillUnreadable("缺少必需的列", missing=missing)
    return index


def fen(value: str, *, line: int, column: str) -> int:
    """A yuan amount ("0.10", "-200.00") → signed fen; anything else is unreadable."""
    text = value.strip()
    negative = text.startswith("-")
    try:
        amount = yuan_to_fen(text[1:] if negative else text)
    except ValueError as exc:
        raise BillUnreadable(
            f"第 {line} 行“{column}”不是金额", line=line, column=column, value=value
        ) from exc
    return -amount if negative else amount
