"""Reads the text back out of our receipt PDFs (reportlab, ASCII85 + Flate content streams, text
drawn with the UniGB-UCS2-H CID font, so every string is UTF-16BE)."""

from __future__ import annotations

import base64
import re
import zlib

STREAM = re.compile(rb"/Filter \[ /ASCII85Decode /FlateDecode \][^>]*>>\s*stream\r?\n(.*?)endstream", re.S)
TEXT = re.compile(rb"\((.*?)(?<!\\)\)\s*Tj", re.S)
ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.S)
NAMED = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(raw: bytes) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        if token[:1].isdigit():
            return bytes([int(token, 8)])
        return NAMED.get(token, token)

    return ESCAPE.sub(one, raw)


def pdf_lines(pdf: bytes) -> list[str]:
    """Every string drawn on the pages, in drawing order."""
    lines: list[str] = []
    for encoded in STREAM.findall(pdf):
        data = encoded.strip()
        data = data.removesuffix(b"~>")
        content = zlib.decompress(base64.a85decode(data))
        lines.extend(_unescape(raw).decode("utf-16-be") for raw in TEXT.findall(content))
    return lines
