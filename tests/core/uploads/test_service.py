"""The upload service: receive (validate, store once, record, enqueue), derive, owner checks."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr
from sqlmodel import Session

from core.jobs import pending_jobs
from core.models import Citizen, OwnerKind, StaffRole, StaffUser, Upload, UploadStatus
from core.settings import StorageSettings
from core.uploads import service
from core.uploads.errors import (
    ObjectMissing,
    UploadFailed,
    UploadNotFound,
    UploadNotImage,
    UploadTooLarge,
    UploadUnknown,
)
from core.uploads.storage import LocalStorage, Storage, storage_for
from tests.core.uploads import photos
from tests.fixtures.fake_s3 import running_fake_s3


class CountingStorage:
    """A storage that counts writes (a test double of the Storage protocol, around a real one)."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.puts: list[str] = []

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.puts.append(key)
        self.inner.put(key, data, content_type)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)


LIMITS = StorageSettings()


@pytest.fixture
def storage(tmp_path: Path) -> CountingStorage:
    return CountingStorage(LocalStorage(tmp_path))


def citizen(session: Session) -> Citizen:
    person = Citizen(phone=f"139{secrets.randbelow(10**8):08d}")
    session.add(person)
    session.flush()
    return person


def staff(session: Session) -> StaffUser:
    user = StaffUser(
        username=f"u{secrets.token_hex(4)}", display_name="测试", role=StaffRole.SUPERVISOR, password_hash="x"
    )
    session.add(user)
    session.flush()
    return user


def receive(session: Session, storage: Storage, owner: Citizen | StaffUser, data: bytes) -> service.Received:
    return service.receive(session, storage=storage, limits=LIMITS, owner=owner, data=data)


def test_receive_records_the_upload_and_keeps_the_original(
    session: Session, storage: CountingStorage
) -> None:
    owner = citizen(session)
    data = photos.jpeg()
    received = receive(session, storage, owner, data)
    upload = session.get(Upload, received.upload.id)
    assert upload is not None
    assert len(upload.id) == 32
    assert (upload.owner_kind, upload.owner_id) == (OwnerKind.CITIZEN, owner.id)
    assert (upload.content_type, upload.size_bytes, upload.width, upload.height) == (
        "image/jpeg",
        len(data),
        100,
        200,
    )
    assert upload.status is UploadStatus.PENDING
    assert upload.original_key == f"originals/{upload.sha256[:2]}/{upload.sha256}"
    assert storage.get(upload.original_key) == data  # the original, EXIF and all, kept privately
    assert upload.exif_lng == pytest.approx(photos.LNG, abs=1e-6)
    assert upload.exif_taken_at is not None
    assert upload.exif_taken_at.isoformat() == "2026-05-01T02:20:30+00:00"
    assert [(job.name, dict(job.kwargs)) for job in pending_jobs(session)] == [
        ("uploads.derive", {"upload_id": upload.id})
    ]


def test_same_content_is_stored_once(session: Session, storage: CountingStorage) -> None:
    data = photos.png()
    first = receive(session, storage, citizen(session), data)
    second = receive(session, storage, citizen(session), data)
    assert first.upload.id != second.upload.id
    assert first.upload.original_key == second.upload.original_key
    assert storage.puts == [first.upload.original_key]


def test_refused_file_stores_nothing_and_records_nothing(session: Session, storage: CountingStorage) -> None:
    with pytest.raises(UploadNotImage):
        receive(session, storage, citizen(session), photos.pdf())
    assert storage.puts == []
    assert pending_jobs(session) == []


def test_size_limit_is_enforced_by_the_service_too(session: Session, storage: CountingStorage) -> None:
    data = photos.png()
    limits = StorageSettings(max_upload_bytes=len(data) - 1)
    with pytest.raises(UploadTooLarge) as caught:
        service.receive(session, storage=storage, limits=limits, owner=citizen(session), data=data)
    assert caught.value.details == {"max_bytes": len(data) - 1}


def derive(session: Session, storage: Storage, upload_id: str) -> Upload | None:
    return service.derive(session, storage=storage, limits=LIMITS, upload_id=upload_id)


def test_derive_makes_clean_copies_and_is_idempotent(session: Session, storage: CountingStorage) -> None:
    upload = receive(session, storage, citizen(session), photos.jpeg((4000, 3000))).upload
    derived = derive(session, storage, upload.id)
    assert derived is not None
    assert derived.status is UploadStatus.READY
    assert (derived.display_key, derived.thumb_key) == (f"display/{upload.id}.jpg", f"thumbs/{upload.id}.jpg")
    display = Image.open(io.BytesIO(storage.get(f"display/{upload.id}.jpg")))
    thumb = Image.open(io.BytesIO(storage.get(f"thumbs/{upload.id}.jpg")))
    assert (display.size, thumb.size) == ((1536, 2048), (240, 320))  # upright (orientation 6)
    assert dict(display.getexif()) == {}
    assert dict(thumb.getexif()) == {}
    writes = list(storage.puts)
    again = derive(session, storage, upload.id)
    assert again is not None
    assert again.status is UploadStatus.READY
    assert storage.puts == writes  # nothing made twice


def test_derive_of_an_undecodable_original_marks_it_failed(
    session: Session, storage: CountingStorage, caplog: pytest.LogCaptureFixture
) -> None:
    upload = receive(session, storage, citizen(session), photos.png()).upload
    storage.put(upload.original_key, photos.truncated_png(), "image/png")  # damaged at rest
    with caplog.at_level("WARNING", logger="zhcg.uploads"):
        derived = derive(session, storage, upload.id)
    assert derived is not None
    assert derived.status is UploadStatus.FAILED
    assert derived.display_key is None
    assert f"upload {upload.id} failed: upload_corrupt" in caplog.text


def test_derive_with_the_original_missing_raises_for_a_retry(session: Session, tmp_path: Path) -> None:
    upload = receive(session, LocalStorage(tmp_path / "a"), citizen(session), photos.png()).upload
    with pytest.raises(ObjectMissing):
        derive(session, LocalStorage(tmp_path / "b"), upload.id)
    assert upload.status is UploadStatus.PENDING


def test_derive_of_an_unknown_upload_does_nothing(
    session: Session, storage: CountingStorage, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="zhcg.uploads"):
        assert derive(session, storage, "0" * 32) is None
    assert "does not exist" in caplog.text


def test_receive_and_derive_run_unchanged_on_s3(session: Session) -> None:
    with running_fake_s3() as fake:
        s3 = storage_for(
            StorageSettings(
                backend="s3",
                s3_endpoint=fake.endpoint,
                s3_bucket="zhcg-photos",
                s3_region=fake.region,
                s3_access_key=SecretStr(fake.access_key),
                s3_secret_key=SecretStr(fake.secret_key),
            )
        )
        upload = receive(session, s3, citizen(session), photos.webp()).upload
        receive(session, s3, citizen(session), photos.webp())  # same bytes: HEAD finds it, no PUT
        derived = derive(session, s3, upload.id)
        assert derived is not None
        assert derived.status is UploadStatus.READY
        assert set(fake.objects) == {
            ("zhcg-photos", upload.original_key),
            ("zhcg-photos", f"display/{upload.id}.jpg"),
            ("zhcg-photos", f"thumbs/{upload.id}.jpg"),
        }
        assert fake.objects[("zhcg-photos", upload.original_key)].content_type == "image/webp"
        assert fake.count("PUT") == 3


def upload_row(
    session: Session, owner: Citizen | StaffUser, status: UploadStatus = UploadStatus.PENDING
) -> str:
    kind, owner_id = service.owner_of(owner)
    row = Upload(
        id=service.new_upload_id(),
        owner_kind=kind,
        owner_id=owner_id,
        sha256="0" * 64,
        content_type="image/jpeg",
        size_bytes=1,
        width=1,
        height=1,
        original_key="originals/00/" + "0" * 64,
        status=status,
    )
    session.add(row)
    session.flush()
    return row.id


def test_attach_check_returns_the_owners_uploads_in_order(session: Session) -> None:
    owner = citizen(session)
    first, second = upload_row(session, owner), upload_row(session, owner, UploadStatus.READY)
    attached = service.attach_check(session, upload_ids=[second, first, second], owner=owner)
    assert [upload.id for upload in attached] == [second, first]
    assert service.attach_check(session, upload_ids=[], owner=owner) == []


def test_attach_check_refuses_missing_and_foreign_uploads(session: Session) -> None:
    owner, other = citizen(session), citizen(session)
    mine, theirs = upload_row(session, owner), upload_row(session, other)
    with pytest.raises(UploadNotFound) as caught:
        service.attach_check(session, upload_ids=[mine, theirs, "nope"], owner=owner)
    assert caught.value.code == "upload_not_found"
    assert caught.value.details == {"upload_ids": [theirs, "nope"]}


def test_citizen_and_staff_with_the_same_id_do_not_share_uploads(session: Session) -> None:
    person, worker = citizen(session), staff(session)
    row = Upload(
        id=service.new_upload_id(),
        owner_kind=OwnerKind.STAFF,
        owner_id=person.id or 0,  # a staff owner whose number equals the citizen's
        sha256="0" * 64,
        content_type="image/jpeg",
        size_bytes=1,
        width=1,
        height=1,
        original_key="originals/00/" + "0" * 64,
    )
    session.add(row)
    session.flush()
    with pytest.raises(UploadNotFound):
        service.attach_check(session, upload_ids=[row.id], owner=person)
    with pytest.raises(UploadUnknown):
        service.get_for_owner(session, upload_id=row.id, owner=person)
    assert service.get_for_owner(session, upload_id=upload_row(session, worker), owner=worker)


def test_attach_check_refuses_failed_uploads(session: Session) -> None:
    owner = citizen(session)
    failed = upload_row(session, owner, UploadStatus.FAILED)
    with pytest.raises(UploadFailed) as caught:
        service.attach_check(session, upload_ids=[upload_row(session, owner), failed], owner=owner)
    assert caught.value.details == {"upload_ids": [failed]}
