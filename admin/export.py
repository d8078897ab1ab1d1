"""Tables as Excel downloads: ``xlsx_response(filename, headers, rows)`` for any console section.

Strings are always written as text (never as formulas, so a cell starting with "=" cannot run in the
reader's Excel); numbers stay numbers; aware datetimes are shown in local time; None is an empty cell.
The file name may be Chinese: Content-Disposition carries an ASCII fallback and the RFC 5987 UTF-8 name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from urllib.parse import quote

import xlsxwriter
from fastapi.responses import Response

from core.kit.clock import to_local

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Cell = str | int | float | bool | date | datetime | None


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("_") or "export.xlsx"
    if not fallback.lower().endswith(".xlsx"):
        fallback += ".xlsx"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def xlsx_bytes(headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, sheet: str = "Sheet1") -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    worksheet = workbook.add_worksheet(sheet[:31])
    bold = workbook.add_format({"bold": True, "bg_color": "#EEF2F7"})
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    widths = [len(header) * 2 + 2 for header in headers]
    for column, header in enumerate(headers):
        worksheet.write_string(0, column, header, bold)
    for row_number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                worksheet.write_boolean(row_number, column, value)
            elif isinstance(value, int | float):
                worksheet.write_number(row_number, column, value)
            elif isinstance(value, datetime):
                local = to_local(value) if value.tzinfo else value
                worksheet.write_datetime(row_number, column, local.replace(tzinfo=None), when)
            elif isinstance(value, date):
                worksheet.write_datetime(row_number, column, value, day)
            else:
                text = str(value)
                worksheet.write_string(row_number, column, text)
                if column < len(widths):
                    widths[column] = max(widths[column], min(len(text) * 2, 60))
    for column, width in enumerate(widths):
        worksheet.set_column(column, column, width)
    worksheet.freeze_panes(1, 0)
    workbook.close()
    return buffer.getvalue()


def xlsx_response(
    filename: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, sheet: str = "Sheet1"
) -> Response:
    """A download of one table: ``headers`` (Chinese column titles) and its rows."""
    return Response(
        content=xlsx_bytes(headers, rows, sheet=sheet),
        media_type=XLSX,
        headers={"Content-Disposition": content_disposition(filename), "Cache-Control": "no-store"},
    )
