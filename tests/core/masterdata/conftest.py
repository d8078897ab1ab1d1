"""Fixtures of the importer tests: a writer of files under tmp_path and a complete good folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.masterdata.files import GOOD_FILES, Writer


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """write(name, text, folder="data") → the path of a UTF-8 file (str text) or raw bytes."""

    def _write(name: str, content: str | bytes, folder: str = "data") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def good_folder(write: Writer) -> Path:
    for name, text in GOOD_FILES.items():
        path = write(name, text, folder="good")
    return path.parent
