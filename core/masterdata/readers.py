"""Reading versioned data files (CSV and GeoJSON) into rows, with precise error positions."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.masterdata.errors import ErrorCollector, ImportFailed, RowError


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def read_source(path: Path) -> SourceFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFailed([RowError(str(path), None, None, f"无法读取文件（{exc.strerror}）")]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(
            [RowError(path.name, None, None, f"文件不是 UTF-8 编码（第 {exc.start} 字节）")]
        ) from exc
    return SourceFile(path, text, hashlib.sha256(raw).hexdigest())


def csv_rows(source: SourceFile, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields (line number, row) with stripped values; the header must hold every required column."""
    reader = csv.DictReader(io.StringIO(source.text, newline=""), strict=True)
    try:
        yield from _rows(source, reader, required)
    except csv.Error as exc:  # e.g. a quote that is never closed
        raise ImportFailed([RowError(source.name, reader.line_num, None, f"CSV 格式错误（{exc}）")]) from exc


def _rows(
    source: SourceFile, reader: csv.DictReader[str], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    if not reader.fieldnames:
        raise ImportFailed([RowError(source.name, 1, None, "文件为空")])
    header = [name.strip() for name in reader.fieldnames]
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFailed([RowError(source.name, 1, name, "表头缺少该列") for name in missing])
    reader.fieldnames = header
    for row in reader:
        # The physical line where the record starts (blank lines and quoted line breaks count).
        line = reader.line_num - sum(value.count("\n") for value in row.values() if isinstance(value, str))
        if None in row:
            raise ImportFailed([RowError(source.name, line, None, "列数多于表头")])
        values = {key: (value or "").strip() for key, value in row.items()}
        if not any(values.values()):
            continue
        yield line, values


def geojson_features(source: SourceFile) -> list[dict[str, Any]]:
    errors = ErrorCollector(source.name)
    try:
        document = json.loads(source.text)
    except json.JSONDecodeError as exc:
        errors.add(exc.lineno, None, f"不是合法的 JSON（第 {exc.colno} 列：{exc.msg}）")
        errors.raise_if_any()
        raise AssertionError("unreachable") from exc
    except RecursionError as exc:
        errors.add(None, None, "JSON 嵌套层数过深")
        errors.raise_if_any()
        raise AssertionError("unreachable") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        errors.add(None, "type", "应为 GeoJSON FeatureCollection")
    elif not isinstance(document.get("features"), list):
        errors.add(None, "features", "缺少要素列表")
    errors.raise_if_any()
    features: list[dict[str, Any]] = document["features"]
    return features
