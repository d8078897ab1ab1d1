"""The photo disk fills up: an upload is refused with a clear 507 ``storage_full`` problem, leaves no
partial file and no upload row; a report is filed whole or not at all; once space is freed, uploads
work again without restarting anything.

The photo folder is a small tmpfs mounted for the test (root is needed: skipped, saying so, where
mounting is not permitted). The API is a real uvicorn process; both database backends.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import col, func, select

from core.db import build_engine, session_scope
from core.migrate import upgrade
from core.models import Case, CasePhoto, Upload
from core.uploads.service import original_key
from tests.conftest import TMP_ROOT, database_url, drop_database
from tests.core.uploads import photos
from tests.failure._procs import ApiServer, MountRefused, fill, small_tmpfs
from tests.fixtures.cases import build_city
from tests.fixtures.factories import Factory

HTTP_TIMEOUT_S = 15.0
STORAGE_FULL = {"code": "storage_full", "message": "照片存储空间已满，暂时无法保存照片，请稍后再试"}


@dataclass
class Site:
    api: ApiServer
    http: httpx.Client
    engine: Engine
    photo_dir: Path
    headers: dict[str, str]
    point: tuple[float, float]

    def upload(self, data: bytes) -> httpx.Response:
        return self.http.post(
            "/api/v1/uploads", headers=self.headers, files={"file": ("p.jpg", data, "image/jpeg")}
        )

    def report(self, upload_ids: list[str]) -> httpx.Response:
        lng, lat = self.point
        body: dict[str, Any] = {
            "category": "SJ0102",
            "description": "人行道上堆放建筑垃圾",
            "lng": lng,
            "lat": lat,
            "coord": "wgs84",
            "upload_ids": upload_ids,
        }
        return self.http.post("/api/v1/reports", json=body, headers=self.headers)

    def counts(self) -> tuple[int, int, int]:
        """Uploads, cases and case photos in the database."""
        with session_scope(self.engine) as session:
            return (
                session.exec(select(func.count()).select_from(Upload)).one(),
                session.exec(select(func.count()).select_from(Case)).one(),
                session.exec(select(func.count()).select_from(CasePhoto)).one(),
            )

    def files(self) -> list[str]:
        return sorted(
            str(path.relative_to(self.photo_dir)) for path in self.photo_dir.rglob("*") if path.is_file()
        )


@pytest.fixture
def site() -> Iterator[Site]:
    root = TMP_ROOT / f"disk-full-{secrets.token_hex(3)}"
    url = database_url("diskfull")
    engine = build_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            city = build_city(session, Factory(session))
            headers = city.headers(city.citizen())
            point = city.point()
        with ExitStack() as stack:
            try:
                photo_dir = stack.enter_context(small_tmpfs(root / "photos", "256k"))
            except MountRefused as exc:
                pytest.skip(f"cannot mount a small tmpfs as the photo folder here: {exc}")
            api = stack.enter_context(ApiServer(db_url=url, photo_dir=photo_dir, log_path=root / "api.log"))
            http = stack.enter_context(httpx.Client(base_url=api.base, timeout=HTTP_TIMEOUT_S))
            api.wait_ready()
            yield Site(api, http, engine, photo_dir, headers, point)
    finally:
        engine.dispose()
        drop_database(url)


def test_a_full_photo_disk_refuses_uploads_cleanly_and_recovers_when_space_is_freed(site: Site) -> None:
    first = site.upload(photos.jpeg())
    assert first.status_code == 201, first.text
    kept = first.json()["id"]
    files_before = site.files()
    assert site.counts() == (1, 0, 0)

    filler = fill(site.photo_dir)
    other = photos.png()  # another photo: its original is not stored yet
    refused = site.upload(other)
    assert refused.status_code == 507, refused.text
    assert refused.json() == STORAGE_FULL
    # No partial file (the temporary one is removed), no row.
    assert site.files() == sorted([*files_before, filler.name])
    assert not (site.photo_dir / original_key(hashlib.sha256(other).hexdigest())).exists()
    assert site.counts() == (1, 0, 0)

    # A report naming a photo the client never got an id for is refused whole: no case, no photo row.
    missing = secrets.token_hex(16)
    half = site.report([kept, missing])
    assert half.status_code == 422
    assert half.json()["code"] == "upload_not_found"
    assert half.json()["details"] == {"upload_ids": [missing]}
    assert site.counts() == (1, 0, 0)
    # The photo already kept needs no more disk: a report with it is filed, whole.
    filed = site.report([kept])
    assert filed.status_code == 201, filed.text
    assert [photo["upload_id"] for photo in filed.json()["report_photos"]] == [kept]
    assert site.counts() == (1, 1, 1)

    filler.unlink()  # the operator frees space; nothing is restarted
    again = site.upload(other)
    assert again.status_code == 201, again.text
    assert (site.photo_dir / original_key(hashlib.sha256(other).hexdigest())).is_file()
    assert site.counts() == (2, 1, 1)
    assert not [name for name in site.files() if name.endswith(".part")]

    log = site.api.log()
    assert "is full: cannot write originals/" in log  # one line for the operator, no traceback
    assert "Traceback" not in log
    with session_scope(site.engine) as session:
        assert session.exec(select(Upload.id).where(col(Upload.id) == kept)).one() == kept
