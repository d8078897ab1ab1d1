"""Provenance of master data: which versioned file produced the current rows."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from core.models.base import Timestamped, created_at_field


class ImportBatch(Timestamped, table=True):
    """One run of a master-data importer: which file (and its hash) produced the current rows."""

    __tablename__ = "import_batch"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    source: str = Field(max_length=512)
    sha256: str = Field(max_length=64)
    rows: int
    created: int
    updated: int
    imported_at: datetime = created_at_field()
