"""The ``uploads.derive`` job: its own unit of work on committed data, idempotent, retried on storage
errors — inline and in a real RQ worker process."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from redis import Redis
from rq import Queue
from sqlalchemy import Engine
from sqlmodel import Session, col, delete

from core.jobs import RQDispatcher, configure_jobs, enqueue
from core.models import Citizen, OwnerKind, Upload, UploadStatus
from core.settings import Settings, get_settings
from core.uploads.errors import ObjectMissing
from core.uploads.service import original_key
from core.uploads.storage import LocalStorage
from tests.core.uploads import photos
from tests.fixtures.worker import run_worker
from workers.jobs.uploads import derive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def photo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "photos"
    monkeypatch.setenv("ZHCG_STORAGE__LOCAL_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


MakeUpload = Callable[[bytes], str]


@pytest.fixture
def committed_upload(engine: Engine, photo_dir: Path) -> Iterator[MakeUpload]:
    """Creates committed uploads (a job only sees committed data) and deletes them afterwards."""
    with Session(engine, expire_on_commit=False) as setup:
        citizen = Citizen(phone=f"137{secrets.randbelow(10**8):08d}")
        setup.add(citizen)
        setup.commit()
    assert citizen.id is not None
    owner_id = citizen.id

    def make(data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        LocalStorage(photo_dir).put(original_key(sha256), data, "image/jpeg")
        with Session(engine) as setup:
            upload = Upload(
                id=secrets.token_hex(16),
                owner_kind=OwnerKind.CITIZEN,
                owner_id=owner_id,
                sha256=sha256,
                content_type="image/jpeg",
                size_bytes=len(data),
                width=1,
                height=1,
                original_key=original_key(sha256),
            )
            setup.add(upload)
            setup.commit()
            return upload.id

    yield make
    with Session(engine) as cleanup:
        cleanup.exec(delete(Upload).where(col(Upload.owner_id) == owner_id))
        cleanup.exec(delete(Citizen).where(col(Citizen.id) == owner_id))
        cleanup.commit()


def status(engine: Engine, upload_id: str) -> UploadStatus:
    with Session(engine) as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        return upload.status


def test_job_derives_upright_clean_copies_once(
    engine: Engine, committed_upload: MakeUpload, photo_dir: Path
) -> None:
    upload_id = committed_upload(photos.jpeg((2400, 1800)))
    derive(upload_id)
    assert status(engine, upload_id) is UploadStatus.READY
    display_path = photo_dir / "display" / f"{upload_id}.jpg"
    display = Image.open(io.BytesIO(display_path.read_bytes()))
    assert display.size == (1536, 2048)  # orientation 6 applied, long side 2048
    assert dict(display.getexif()) == {}
    assert Image.open(photo_dir / "thumbs" / f"{upload_id}.jpg").size == (240, 320)

    display_path.unlink()
    derive(upload_id)  # a second run (RQ retry, duplicate enqueue) leaves a ready upload alone
    assert not display_path.exists()


def test_job_for_an_unknown_upload_does_nothing(caplog: pytest.LogCaptureFixture, engine: Engine) -> None:
    with caplog.at_level("WARNING", logger="zhcg.uploads"):
        derive("f" * 32)
    assert "does not exist" in caplog.text


def test_job_raises_on_missing_original_so_that_it_is_retried(
    engine: Engine, committed_upload: MakeUpload, photo_dir: Path
) -> None:
    upload_id = committed_upload(photos.png())
    for original in (photo_dir / "originals").rglob("*"):
        if original.is_file():
            original.unlink()
    with pytest.raises(ObjectMissing):
        derive(upload_id)
    assert status(engine, upload_id) is UploadStatus.PENDING


def test_job_marks_an_undecodable_original_failed(engine: Engine, committed_upload: MakeUpload) -> None:
    upload_id = committed_upload(photos.truncated_jpeg())
    derive(upload_id)
    assert status(engine, upload_id) is UploadStatus.FAILED


def test_real_rq_worker_derives_an_upload(
    engine: Engine, committed_upload: MakeUpload, rq_settings: Settings, photo_dir: Path
) -> None:
    upload_id = committed_upload(photos.webp())
    assert isinstance(configure_jobs(rq_settings), RQDispatcher)
    redis = Redis.from_url(str(rq_settings.redis.url))
    queue = Queue(f"{rq_settings.redis.queue_prefix}-photos", connection=redis)
    with Session(engine) as session:
        enqueue(session, "uploads.derive", upload_id=upload_id)
        session.commit()
    assert queue.count == 1

    result = run_worker(rq_settings)
    assert result.returncode == 0, result.stderr[-2000:]
    assert queue.count == 0
    assert status(engine, upload_id) is UploadStatus.READY
    assert (photo_dir / "display" / f"{upload_id}.jpg").is_file()
