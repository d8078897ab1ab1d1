"""Loading master data from versioned files: one kind at a time or whole folders.

Every import validates the whole file before writing anything, writes inside a savepoint, and
upserts by code so that a re-run changes nothing. The caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlmodel import Session

from core.db import on_transaction_end
from core.masterdata.errors import ImportFailed, RowError
from core.masterdata.importers.areas import import_areas
from core.masterdata.importers.base import ImportStats
from core.masterdata.importers.calendar import import_calendar
from core.masterdata.importers.categories import import_categories, import_register_standards, import_routing
from core.masterdata.importers.departments import import_departments
from core.masterdata.importers.fines import import_fines
from core.masterdata.importers.grids import import_responsibility_grids, import_unit_grids
from core.masterdata.importers.places import import_places
from core.masterdata.readers import SourceFile, read_source
from core.models import ImportBatch

Importer = Callable[[Session, SourceFile], ImportStats]


@dataclass(frozen=True)
class Kind:
    name: str
    file_name: str
    importer: Importer
    label: str
    # Other names the kind's file may have in a folder (another format); a folder holds at most one.
    other_file_names: tuple[str, ...] = ()

    @property
    def file_names(self) -> tuple[str, ...]:
        return (self.file_name, *self.other_file_names)


# In dependency order: a kind may only refer to kinds listed before it.
KINDS: tuple[Kind, ...] = (
    Kind("areas", "areas.csv", import_areas, "行政区划"),
    Kind("departments", "departments.csv", import_departments, "专业部门"),
    Kind("categories", "categories.csv", import_categories, "案件类别"),
    Kind("register-standards", "register_standards.csv", import_register_standards, "立案标准"),
    Kind("routing", "routing.csv", import_routing, "派遣规则"),
    Kind("responsibility-grids", "responsibility_grids.csv", import_responsibility_grids, "责任网格"),
    Kind("unit-grids", "unit_grids.geojson", import_unit_grids, "单元网格"),
    Kind("places", "places.csv", import_places, "便民设施", ("places.geojson",)),
    Kind("calendar", "calendar.csv", import_calendar, "节假日安排"),
)
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}
# Records from other systems, imported one file at a time the same way but not master data: not in
# folders (`import all`), exports or the console's master-data pages.
RECORD_KINDS: tuple[Kind, ...] = (Kind("fines", "fines.csv", import_fines, "行政处罚决定", ("fines.json",)),)
IMPORTABLE = KINDS_BY_NAME | {kind.name: kind for kind in RECORD_KINDS}
GEO_KINDS = frozenset({"areas", "routing", "responsibility-grids", "unit-grids", "departments"})

_after_import: list[Callable[[str], None]] = []


def on_imported(callback: Callable[[str], None]) -> None:
    """Register a cache invalidation to run after a kind was imported (e.g. the geo index)."""
    _after_import.append(callback)


@dataclass(frozen=True)
class ImportResult:
    kind: str
    source: str
    stats: ImportStats


def import_file(session: Session, kind_name: str, path: Path) -> ImportResult:
    kind = IMPORTABLE.get(kind_name)
    if kind is None:
        known = "、".join(IMPORTABLE)
        raise ImportFailed([RowError(str(path), None, None, f"未知的数据类型“{kind_name}”（可选：{known}）")])
    source = read_source(path)
    with session.begin_nested():
        stats = kind.importer(session, source)
        session.add(
            ImportBatch(
                kind=kind.name,
                source=str(path),
                sha256=source.sha256,
                rows=stats.rows,
                created=stats.created,
                updated=stats.updated,
            )
        )
    for callback in _after_import:
        callback(kind.name)
        # Again when the transaction ends: a reader in this transaction may have cached rows that a
        # rollback then removes.
        on_transaction_end(session, partial(callback, kind.name))
    return ImportResult(kind.name, str(path), stats)


def files_in(folders: Iterable[Path]) -> list[tuple[Kind, Path]]:
    """Every known data file found in the folders, in dependency order.

    A folder holding a kind in two formats (``places.csv`` and ``places.geojson``) is refused: which
    one is meant cannot be guessed, and importing both would let the second silently win.
    """
    folders = list(folders)
    found: list[tuple[Kind, Path]] = []
    conflicts: list[RowError] = []
    for kind in KINDS:
        for folder in folders:
            paths = [folder / name for name in kind.file_names if (folder / name).is_file()]
            if len(paths) > 1:
                names = "、".join(path.name for path in paths)
                conflicts.append(RowError(str(folder), None, None, f"目录中同时有 {names}，请只保留一个"))
            elif paths:
                found.append((kind, paths[0]))
    if conflicts:
        raise ImportFailed(conflicts)
    return found


def import_folders(session: Session, folders: Iterable[Path]) -> list[ImportResult]:
    """All data files of the folders as one all-or-nothing import."""
    folders = list(folders)
    for folder in folders:
        if not folder.is_dir():
            raise ImportFailed([RowError(str(folder), None, None, "目录不存在")])
    results: list[ImportResult] = []
    with session.begin_nested():
        for kind, path in files_in(folders):
            results.append(import_file(session, kind.name, path))
    return results
