"""POST requests with a photo (multipart, file field ``media``): validated exactly like a citizen's
upload, kept as an upload of the Open311 client, attached to the case as a report photo; refused with
a clear error (and nothing written) otherwise."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from sqlmodel import Session, col, select

from core.cases.photos import may_see
from core.models import Case, CaseEvent, CasePhoto, OwnerKind, PhotoStage, StaffRole, Upload, UploadStatus
from core.models.open311 import Open311Client, Open311Token
from core.settings import get_settings
from core.uploads import service as uploads
from core.uploads.storage import LocalStorage
from tests.core.uploads import photos
from tests.fixtures.cases import City
from tests.open311.conftest import app_client, error_of
from tests.open311.test_post_requests import case_of, form


@pytest.fixture(autouse=True)
def photo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app (built by the ``client`` fixture after this one) stores photos in a temporary folder,
    configured through the environment as a deployment would."""
    folder = tmp_path / "photos"
    monkeypatch.setenv("ZHCG_STORAGE__LOCAL_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def post(client: TestClient, fields: dict[str, Any], files: list[Any], fmt: str = "json") -> Response:
    response: Response = client.post(f"/open311/v2/requests.{fmt}", data=fields, files=files)
    return response


def nothing_written(session: Session, photo_dir: Path) -> None:
    assert session.exec(select(Open311Token)).all() == []
    assert session.exec(select(Upload)).all() == []
    assert not (photo_dir / "originals").exists()


def test_a_photo_is_kept_as_the_clients_upload_and_attached_to_the_case(
    client: TestClient,
    session: Session,
    city: City,
    api_client: tuple[Open311Client, str],
    photo_dir: Path,
) -> None:
    client_row, key = api_client
    data = photos.jpeg()
    response = post(client, form(city, key), [("media", ("IMG_0001.jpg", data, "image/jpeg"))])
    assert response.status_code == 201, response.text
    case = case_of(session, response.json()[0]["service_request_id"])
    (photo,) = session.exec(select(CasePhoto).where(col(CasePhoto.case_id) == case.id)).all()
    assert photo.stage is PhotoStage.REPORT
    upload = session.get(Upload, photo.upload_id)
    assert upload is not None
    assert (upload.owner_kind, upload.owner_id) == (OwnerKind.OPEN311, client_row.id)
    assert (upload.content_type, upload.size_bytes, upload.status) == (
        "image/jpeg",
        len(data),
        UploadStatus.PENDING,
    )
    assert upload.exif_lng == pytest.approx(photos.LNG, abs=1e-6)  # kept for staff, like a citizen's
    assert (photo_dir / upload.original_key).read_bytes() == data
    (event,) = session.exec(select(CaseEvent).where(col(CaseEvent.case_id) == case.id)).all()
    assert "附客户端上传的现场照片 1 张" in event.note
    # Staff who may see the case see the photo; the public request never shows our photos.
    assert may_see(session, city.staff[StaffRole.OPERATOR], upload)
    assert client.get(f"/open311/v2/requests/{case.case_no}.json").json()[0]["media_url"] is None


def test_the_derived_copies_of_a_clients_photo_carry_no_metadata(
    client: TestClient, session: Session, city: City, api_key: str, photo_dir: Path
) -> None:
    response = post(client, form(city, api_key), [("media", ("a.jpg", photos.jpeg(), "image/jpeg"))])
    assert response.status_code == 201, response.text
    case = case_of(session, response.json()[0]["service_request_id"])
    photo = session.exec(select(CasePhoto).where(col(CasePhoto.case_id) == case.id)).one()
    settings = get_settings()
    storage = LocalStorage(photo_dir)
    # The uploads.derive job's work, on this test's (uncommitted) data.
    derived = uploads.derive(session, storage=storage, limits=settings.storage, upload_id=photo.upload_id)
    assert derived is not None
    assert derived.status is UploadStatus.READY
    assert derived.display_key is not None
    display = Image.open(io.BytesIO(storage.get(derived.display_key)))
    assert display.size == (100, 200)  # turned upright by the EXIF orientation
    assert not display.getexif()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (photos.pdf(), "upload_not_image"),
        (photos.truncated_jpeg(), "upload_corrupt"),
        (photos.png_bomb_header(), "upload_too_many_pixels"),
        (b"", "upload_empty"),
    ],
    ids=["renamed-pdf", "truncated-jpeg", "pixel-bomb", "empty"],
)
def test_a_bad_photo_is_400_and_writes_nothing(
    client: TestClient, session: Session, city: City, api_key: str, photo_dir: Path, data: bytes, code: str
) -> None:
    response = post(client, form(city, api_key), [("media", ("photo.jpg", data, "image/jpeg"))], "xml")
    assert response.status_code == 400, response.text
    status, description = error_of(response, "xml")
    assert status == 400
    assert description.startswith(code)
    nothing_written(session, photo_dir)


def test_a_photo_over_the_limit_is_413(
    monkeypatch: pytest.MonkeyPatch, session: Session, city: City, api_key: str, photo_dir: Path
) -> None:
    limit = len(photos.png())
    monkeypatch.setenv("ZHCG_STORAGE__MAX_UPLOAD_BYTES", str(limit))
    get_settings.cache_clear()
    with app_client(session) as client:
        at_limit = post(client, form(city, api_key), [("media", ("a.png", photos.png(), "image/png"))])
        assert at_limit.status_code == 201, at_limit.text
        over = post(client, form(city, api_key), [("media", ("a.png", photos.png() + b"\0", "image/png"))])
        assert over.status_code == 413
        assert error_of(over, "json")[1].startswith("upload_too_large")
        huge = photos.png() + b"\0" * (70 * 1024)  # past the limit and the room for the form fields
        refused = post(client, form(city, api_key), [("media", ("a.png", huge, "image/png"))], "xml")
        assert refused.status_code == 413
        assert error_of(refused, "xml")[1].startswith("upload_too_large")


@pytest.mark.parametrize(
    "files",
    [
        [("photo", ("a.jpg", photos.jpeg(), "image/jpeg"))],
        [
            ("media", ("a.jpg", photos.jpeg(), "image/jpeg")),
            ("media", ("b.jpg", photos.jpeg(), "image/jpeg")),
        ],
    ],
    ids=["other-field", "two-photos"],
)
def test_files_other_than_one_media_photo_are_refused(
    client: TestClient, session: Session, city: City, api_key: str, photo_dir: Path, files: list[Any]
) -> None:
    response = post(client, form(city, api_key), files)
    assert response.status_code == 400
    assert error_of(response, "json")[1].startswith("media_refused")
    nothing_written(session, photo_dir)


def test_an_empty_file_input_counts_as_no_photo(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    response = post(client, form(city, api_key), [("media", ("", b"", "application/octet-stream"))])
    assert response.status_code == 201, response.text
    case = case_of(session, response.json()[0]["service_request_id"])
    assert session.exec(select(CasePhoto).where(col(CasePhoto.case_id) == case.id)).all() == []


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"api_key": "not-a-key"}, 403, "invalid_api_key"),
        ({"description": "坏了"}, 400, "description_too_short"),
        ({"lat": "0", "long": "0"}, 400, "outside_service_area"),
    ],
)
def test_a_refused_request_does_not_keep_its_photo(
    client: TestClient,
    session: Session,
    city: City,
    api_key: str,
    photo_dir: Path,
    changes: dict[str, Any],
    status: int,
    code: str,
) -> None:
    cases_before = len(session.exec(select(Case.id)).all())
    fields = form(city, api_key, **changes)
    response = post(client, fields, [("media", ("a.jpg", photos.jpeg(), "image/jpeg"))])
    assert response.status_code == status
    assert error_of(response, "json")[1].startswith(code)
    nothing_written(session, photo_dir)
    assert len(session.exec(select(Case.id)).all()) == cases_before


def test_a_streamed_body_without_length_is_cut_at_the_bound(
    monkeypatch: pytest.MonkeyPatch, session: Session, city: City, api_key: str, photo_dir: Path
) -> None:
    """A chunked multipart body (no Content-Length) is refused once it passes the photo limit plus
    the room for the fields, whatever it would have carried."""
    limit = 100_000
    monkeypatch.setenv("ZHCG_STORAGE__MAX_UPLOAD_BYTES", str(limit))
    get_settings.cache_clear()
    boundary = "zhcgboundary"
    opening = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield opening
        for _ in range(10):  # 640 KiB of photo, far past the bound
            yield b"\xff" * 65536

    with app_client(session) as client:
        response = client.post(
            "/open311/v2/requests.json",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
    assert response.status_code == 413
    assert error_of(response, "json")[1].startswith("upload_too_large")
    nothing_written(session, photo_dir)
