"""What every importer returns, and the upsert-by-key step they share."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel

from core.kit.clock import utcnow
from core.masterdata.repository import assign

M = TypeVar("M", bound=SQLModel)


@dataclass
class ImportStats:
    rows: int = 0
    created: int = 0
    updated: int = 0


def upsert(
    session: Session,
    stats: ImportStats,
    existing: dict[Any, M],
    key: Hashable,
    model: type[M],
    values: dict[str, Any],
) -> M:
    """Create the row for ``key`` or update it in place, so a re-run never duplicates."""
    stats.rows += 1
    row = existing.get(key)
    if row is None:
        row = model(**values)
        session.add(row)
        existing[key] = row
        stats.created += 1
    elif assign(row, values):
        row.updated_at = utcnow()
        stats.updated += 1
    return row
