"""The receipt as an A4 PDF (reportlab), deterministic: the same receipt gives the same bytes.

Chinese text uses the CID font ``STSong-Light`` every PDF reader ships (Adobe-GB1), so no font file is
embedded or needed. ``invariant`` fixes the creation date and the document id.
"""

from __future__ import annotations

import io
import threading

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from payments.receipts.document import ELECTRONIC_NOTE, SUBTITLE, TITLE, TREASURY_NOTE, Receipt

FONT = "STSong-Light"
MARGIN = 56.0
LABEL_WIDTH = 110.0
ROW_PAD = 7.0
BODY_SIZE = 11.0
LEADING = 15.0

_font_lock = threading.Lock()


def _register_font() -> None:
    with _font_lock:
        if FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def wrap(text: str, width: float, size: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (character by character: Chinese has no spaces)."""
    lines: list[str] = []
    current = ""
    for char in text:
        if current and pdfmetrics.stringWidth(current + char, FONT, size) > width:
            lines.append(current)
            current = ""
        current += char
    return [*lines, current] if current else lines or [""]


def render_pdf(receipt: Receipt) -> bytes:
    _register_font()
    buffer = io.BytesIO()
    page_width, page_height = A4
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
    pdf.setTitle(f"{TITLE} {receipt.receipt_no}")
    pdf.setAuthor(receipt.bureau_name)
    pdf.setSubject(TITLE)
    pdf.setCreator("zhcg")

    y = page_height - MARGIN - 10
    pdf.setFont(FONT, 20)
    pdf.drawCentredString(page_width / 2, y, TITLE)
    y -= 22
    pdf.setFont(FONT, 12)
    pdf.drawCentredString(page_width / 2, y, SUBTITLE)
    y -= 30

    left, right = MARGIN, page_width - MARGIN
    value_x = left + LABEL_WIDTH
    value_width = right - value_x - 2 * ROW_PAD
    pdf.setLineWidth(0.8)
    pdf.line(left, y, right, y)
    for label, value in receipt.lines:
        wrapped = wrap(value, value_width, BODY_SIZE)
        height = ROW_PAD * 2 + LEADING * len(wrapped)
        pdf.setFont(FONT, BODY_SIZE)
        pdf.drawString(left + ROW_PAD, y - ROW_PAD - BODY_SIZE, label)
        for index, line in enumerate(wrapped):
            pdf.drawString(value_x + ROW_PAD, y - ROW_PAD - BODY_SIZE - index * LEADING, line)
        pdf.line(value_x, y, value_x, y - height)
        pdf.line(left, y, left, y - height)
        pdf.line(right, y, right, y - height)
        y -= height
        pdf.line(left, y, right, y)

    y -= 24
    pdf.setFont(FONT, 9.5)
    for note in (TREASURY_NOTE, ELECTRONIC_NOTE):
        for line in wrap(note, right - left, 9.5):
            pdf.drawString(left, y, line)
            y -= 14
        y -= 4

    y -= 24
    pdf.setFont(FONT, BODY_SIZE)
    pdf.drawRightString(right, y, f"执收单位：{receipt.bureau_name}")
    y -= 18
    pdf.drawRightString(right, y, f"开具日期：{receipt.paid_at_local[:10]}")

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
