"""An API process killed with SIGKILL in the middle of a load: every report it acknowledged with 201 is in
the database with its data and its photo, a client that retries an unanswered report with the same
Idempotency-Key files it once, and a new process serves at once.

Why this holds: the request's unit of work commits before the response is sent (``api/deps.py``), and
the photo's original is stored before its row is written (``core/uploads/service.py``).
"""

from __future__ import annotations

import io
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import col, func, select

from core.db import build_engine, session_scope
from core.migrate import upgrade
from core.models import Case, CasePhoto, Category, Upload
from tests.conftest import TEST_BACKEND, TMP_ROOT, database_url, drop_database
from tests.failure._procs import ApiServer, wait_until
from tests.fixtures.cases import build_city
from tests.fixtures.factories import Factory

pytestmark = pytest.mark.skipif(
    TEST_BACKEND != "postgresql", reason="concurrent writers against a server process: PostgreSQL"
)

CLIENTS = 4
KILL_AFTER = 12  # acknowledged reports before the kill
HTTP_TIMEOUT_S = 15.0
LIMITS = {  # the clients report far more often than a citizen may
    "ZHCG_REWARDS__REPORTS_PER_CITIZEN_PER_HOUR": "10000",
    "ZHCG_REWARDS__REPORTS_PER_CITIZEN_PER_DAY": "10000",
}


@dataclass
class Live:
    url: str
    engine: Engine
    photo_dir: Path
    log_dir: Path
    headers: list[dict[str, str]]
    point: tuple[float, float]

    def server(self, name: str) -> ApiServer:
        return ApiServer(
            db_url=self.url, photo_dir=self.photo_dir, log_path=self.log_dir / f"{name}.log", extra_env=LIMITS
        )


@pytest.fixture
def live() -> Iterator[Live]:
    url = database_url("apikill")
    engine = build_engine(url)
    root = TMP_ROOT / f"api-kill-{secrets.token_hex(3)}"
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            city = build_city(session, Factory(session))
            headers = [city.headers(city.citizen()) for _ in range(CLIENTS)]
            point = city.point()
        yield Live(url, engine, root / "photos", root, headers, point)
    finally:
        engine.dispose()
        drop_database(url)


@dataclass(frozen=True)
class Acknowledged:
    case_no: str
    description: str
    upload_id: str
    client: int


@dataclass
class Load:
    acknowledged: list[Acknowledged] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    unanswered: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # client, key, body
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def photo(client: int, n: int) -> bytes:
    """A small JPEG of its own per request (the originals are content-addressed)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (client * 50 % 256, n % 256, 120)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def report_body(live: Live, description: str, upload_id: str) -> dict[str, Any]:
    lng, lat = live.point
    return {
        "category": "SJ0102",
        "description": description,
        "lng": lng,
        "lat": lat,
        "coord": "wgs84",
        "upload_ids": [upload_id],
    }


def run_client(live: Live, base: str, client: int, load: Load, stop: threading.Event) -> None:
    """Upload a photo, then report with it, until the server is gone (or told to stop)."""
    headers = live.headers[client]
    with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT_S) as http:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                uploaded = http.post(
                    "/api/v1/uploads",
                    headers=headers,
                    files={"file": ("p.jpg", photo(client, n), "image/jpeg")},
                )
            except httpx.TransportError:
                return
            if uploaded.status_code != 201:
                with load.lock:
                    load.unexpected.append(f"upload {uploaded.status_code} {uploaded.text[:200]}")
                return
            upload_id = uploaded.json()["id"]
            with load.lock:
                load.uploads.append(upload_id)
            key = f"kill-{client}-{n:04d}"
            body = report_body(live, f"第 {client} 号客户端的第 {n} 次上报：路边垃圾堆积", upload_id)
            try:
                filed = http.post("/api/v1/reports", json=body, headers={**headers, "Idempotency-Key": key})
            except httpx.TransportError:
                with load.lock:
                    load.unanswered.append((client, key, body))
                return
            with load.lock:
                if filed.status_code == 201:
                    load.acknowledged.append(
                        Acknowledged(filed.json()["case_no"], body["description"], upload_id, client)
                    )
                else:
                    load.unexpected.append(f"report {filed.status_code} {filed.text[:200]}")
                    return


def test_every_acknowledged_report_survives_a_sigkill(live: Live) -> None:
    load, stop = Load(), threading.Event()
    threads: list[threading.Thread] = []
    first = live.server("first").start()
    try:
        first.wait_ready()
        threads += [
            threading.Thread(target=run_client, args=(live, first.base, client, load, stop), daemon=True)
            for client in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(load.acknowledged) >= KILL_AFTER, timeout=120, what="reports acknowledged")
        first.kill()  # mid-load: the clients have requests in flight
    finally:
        stop.set()
        first.stop()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT_S * 2)
        assert not thread.is_alive()
    assert not load.unexpected, load.unexpected
    assert len(load.acknowledged) >= KILL_AFTER

    with session_scope(live.engine) as session:
        rubbish = session.exec(select(Category).where(Category.code == "SJ0102")).one()
        for ack in load.acknowledged:
            case = session.exec(select(Case).where(Case.case_no == ack.case_no)).one_or_none()
            assert case is not None, f"{ack.case_no} was acknowledged but is not in the database"
            assert (case.description, case.category_id) == (ack.description, rubbish.id)
            photos = session.exec(select(CasePhoto.upload_id).where(CasePhoto.case_id == case.id)).all()
            assert photos == [ack.upload_id]
        stored = session.exec(select(Upload).where(col(Upload.id).in_(load.uploads))).all()
        assert len(stored) == len(load.uploads)  # every acknowledged upload has its row …
        for upload in stored:
            assert (live.photo_dir / upload.original_key).is_file()  # … and its original on disk

    second = live.server("second").start()
    try:
        second.wait_ready()
        with httpx.Client(base_url=second.base, timeout=HTTP_TIMEOUT_S) as http:
            # A client whose report went unanswered sends it again with the same key: one case.
            for client, key, body in load.unanswered:
                again = http.post(
                    "/api/v1/reports", json=body, headers={**live.headers[client], "Idempotency-Key": key}
                )
                assert again.status_code in (200, 201), again.text
            ack = load.acknowledged[0]
            shown = http.get(f"/api/v1/reports/{ack.case_no}", headers=live.headers[ack.client])
            assert shown.status_code == 200
            assert shown.json()["description"] == ack.description
            uploaded = http.post(
                "/api/v1/uploads",
                headers=live.headers[0],
                files={"file": ("p.jpg", photo(0, 0), "image/jpeg")},
            )
            assert uploaded.status_code == 201, uploaded.text
            body = report_body(live, "重启后的新上报", uploaded.json()["id"])
            fresh = http.post("/api/v1/reports", json=body, headers=live.headers[0])
            assert fresh.status_code == 201, fresh.text
    finally:
        second.stop()
    with session_scope(live.engine) as session:
        for _client, key, _ in load.unanswered:
            count = session.exec(select(func.count()).where(col(Case.idempotency_key) == key)).one()
            assert count == 1, key
    assert "Traceback" not in second.log()
