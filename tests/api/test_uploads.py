"""``POST /api/v1/uploads`` and ``GET /api/v1/uploads/{id}``: good photos of every accepted format,
hostile files refused with clear codes (never a 500), bounded reading, owner-only status."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session, col, delete

from api.main import create_app
from core.auth.service import token_for
from core.models import Citizen, Upload, UploadStatus
from core.settings import get_settings
from tests.core.uploads import photos

URL = "/api/v1/uploads"


def with_uploads(app: FastAPI) -> FastAPI:
    """The app under test (api.main mounts the uploads router)."""
    return app


@pytest.fixture(autouse=True)
def photo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The API and the inline derive job both read the process settings: point them at a temporary
    folder (and let a test lower the limits) through the environment, as a deployment would."""
    folder = tmp_path / "photos"
    monkeypatch.setenv("ZHCG_STORAGE__LOCAL_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    limit = len(photos.png())
    monkeypatch.setenv("ZHCG_STORAGE__MAX_UPLOAD_BYTES", str(limit))
    get_settings.cache_clear()
    return limit


@pytest.fixture
def api(client: TestClient) -> TestClient:
    with_uploads(client.app)  # type: ignore[arg-type]
    return client


def new_citizen(session: Session) -> Citizen:
    citizen = Citizen(phone=f"138{secrets.randbelow(10**8):08d}")
    session.add(citizen)
    session.flush()
    return citizen


def auth(citizen: Citizen) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(get_settings(), citizen)[0]}"}


@pytest.fixture
def headers(session: Session) -> dict[str, str]:
    return auth(new_citizen(session))


def post(
    api: TestClient, headers: dict[str, str], data: bytes, name: str = "photo.jpg", ctype: str = "image/jpeg"
) -> httpx.Response:
    response: httpx.Response = api.post(URL, headers=headers, files={"file": (name, data, ctype)})
    return response


def test_jpeg_with_exif_is_accepted_and_its_position_and_time_returned(
    api: TestClient, headers: dict[str, str], photo_dir: Path
) -> None:
    data = photos.jpeg()
    response = post(api, headers, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "content_type", "width", "height", "size_bytes", "status", "exif"}
    assert len(body["id"]) == 32
    assert (body["content_type"], body["width"], body["height"], body["size_bytes"]) == (
        "image/jpeg",
        100,
        200,
        len(data),
    )
    assert body["status"] == "pending"
    assert body["exif"]["lng"] == pytest.approx(photos.LNG, abs=1e-6)
    assert body["exif"]["lat"] == pytest.approx(photos.LAT, abs=1e-6)
    assert body["exif"]["taken_at"] == "2026-05-01T10:20:30+08:00"
    assert len(list((photo_dir / "originals").rglob("*"))) == 2  # one folder, one original


@pytest.mark.parametrize(
    ("make", "content_type"),
    [(photos.png, "image/png"), (photos.webp, "image/webp"), (photos.heic, "image/heic")],
    ids=["png", "webp", "heic"],
)
def test_formats_are_told_by_content_not_by_name_or_declared_type(
    api: TestClient, headers: dict[str, str], make: object, content_type: str
) -> None:
    response = post(api, headers, make(), name="document.pdf", ctype="application/pdf")  # type: ignore[operator]
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == content_type
    assert (response.json()["width"], response.json()["height"]) == photos.STORED_SIZE


def test_photo_without_exif_has_null_exif(api: TestClient, headers: dict[str, str]) -> None:
    response = post(api, headers, photos.jpeg(exif=False))
    assert response.status_code == 201
    assert response.json()["exif"] is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (photos.pdf(), "upload_not_image"),
        (photos.truncated_jpeg(), "upload_corrupt"),
        (photos.truncated_png(), "upload_corrupt"),
        (photos.png_bomb_header(), "upload_too_many_pixels"),
        (photos.png_compressed_bomb(), "upload_too_many_pixels"),
        (b"", "upload_empty"),
    ],
    ids=["renamed-pdf", "truncated-jpeg", "truncated-png", "bomb-header", "bomb-compressed", "empty"],
)
def test_bad_files_are_refused_with_a_clear_error(
    api: TestClient, headers: dict[str, str], photo_dir: Path, data: bytes, code: str
) -> None:
    response = post(api, headers, data, name="photo.jpg", ctype="image/jpeg")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    assert any("\u4e00" <= char <= "\u9fff" for char in body["message"])  # a Chinese message
    assert not (photo_dir / "originals").exists()


def test_too_large_upload_is_refused_from_its_declared_length(
    api: TestClient, headers: dict[str, str]
) -> None:
    limit = get_settings().storage.max_upload_bytes
    response = post(api, headers, photos.jpeg(exif=False) + b"\x00" * limit)
    assert response.status_code == 422
    assert response.json()["code"] == "upload_too_large"
    assert response.json()["details"] == {"max_bytes": limit}
    assert "15 MB" in response.json()["message"]


def test_file_one_byte_over_the_limit_is_refused_and_at_the_limit_accepted(
    small_limit: int, api: TestClient, headers: dict[str, str]
) -> None:
    exact = photos.png()
    assert len(exact) == small_limit
    assert post(api, headers, exact).status_code == 201
    over = post(api, headers, exact + b"\x00")
    assert (over.status_code, over.json()["code"]) == (422, "upload_too_large")


def test_streamed_body_without_length_is_cut_at_the_bound(
    small_limit: int, api: TestClient, headers: dict[str, str]
) -> None:
    """Straight at the ASGI app (the test client would buffer the body): a chunked body without
    Content-Length is read only until it passes the bound, then refused."""
    boundary = "zhcgboundary"
    opening = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    chunk = b"\xff" * 65536
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > 10_000:  # an endless body, as far as the app can tell (640 MB)
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": opening if pulled == 1 else chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "root_path": "",
        "query_string": b"",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", headers["Authorization"].encode()),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
            (b"transfer-encoding", b"chunked"),
        ],
    }
    asyncio.run(api.app(scope, receive, send))  # type: ignore[arg-type]
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    assert start["status"] == 422
    assert json.loads(body)["code"] == "upload_too_large"
    assert pulled * len(chunk) <= small_limit + 64 * 1024 + 2 * len(chunk)  # stopped at the bound


@pytest.mark.parametrize(
    "send",
    [
        lambda api, headers: api.post(URL, headers=headers, json={"file": "x"}),
        lambda api, headers: api.post(
            URL, headers=headers, files={"photo": ("a.jpg", photos.png(), "image/jpeg")}
        ),
        lambda api, headers: api.post(
            URL, headers=headers, data={"file": "not a file"}, files={"x": ("a", b"a")}
        ),
        lambda api, headers: api.post(
            URL, headers=headers, files=[("file", ("a.png", photos.png())), ("file", ("b.png", photos.png()))]
        ),
        lambda api, headers: api.post(
            URL, headers={**headers, "Content-Type": "multipart/form-data"}, content=b"no boundary"
        ),
    ],
    ids=["json", "wrong-field", "text-field", "two-files", "no-boundary"],
)
def test_request_without_one_file_field_is_refused(
    api: TestClient, headers: dict[str, str], send: object
) -> None:
    response = send(api, headers)  # type: ignore[operator]
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "upload_no_file"


def test_anonymous_or_bad_token_is_refused_before_the_body_is_read(api: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}):
        response = post(api, headers, photos.jpeg())
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


def test_status_is_visible_to_its_owner_only(api: TestClient, session: Session) -> None:
    owner, other = new_citizen(session), new_citizen(session)
    created = post(api, auth(owner), photos.jpeg()).json()
    response = api.get(f"{URL}/{created['id']}", headers=auth(owner))
    assert response.status_code == 200
    seen = response.json()
    assert seen["id"] == created["id"]
    assert seen["exif"]["taken_at"] == "2026-05-01T10:20:30+08:00"  # from the database, Beijing time
    for headers, upload_id in ((auth(other), created["id"]), (auth(owner), "0" * 32)):
        missing = api.get(f"{URL}/{upload_id}", headers=headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "upload_not_found")
    assert api.get(f"{URL}/{created['id']}").status_code == 401


def test_openapi_documents_the_multipart_body(api: TestClient) -> None:
    operation = api.get("/openapi.json").json()["paths"][URL]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert "201" in operation["responses"]


def test_embedded_default_derives_the_photo_inline_after_commit(engine: Engine, photo_dir: Path) -> None:
    """Without Redis the derive job runs right after the request commits, in the same process."""
    with Session(engine, expire_on_commit=False) as setup:
        citizen = new_citizen(setup)
        setup.commit()
    try:
        app = with_uploads(create_app(get_settings()))
        with TestClient(app, raise_server_exceptions=False) as api:
            created = api.post(
                URL, headers=auth(citizen), files={"file": ("a.jpg", photos.jpeg((3000, 2000)))}
            )
            assert created.status_code == 201
            assert created.json()["status"] == "pending"  # answered before the job ran
            shown = api.get(f"{URL}/{created.json()['id']}", headers=auth(citizen)).json()
        assert shown["status"] == UploadStatus.READY
        display = Image.open(io.BytesIO((photo_dir / "display" / f"{shown['id']}.jpg").read_bytes()))
        assert display.size == (1365, 2048)
        assert dict(display.getexif()) == {}
        assert (photo_dir / "thumbs" / f"{shown['id']}.jpg").is_file()
    finally:
        with Session(engine) as cleanup:
            cleanup.exec(delete(Upload).where(col(Upload.owner_id) == citizen.id))
            cleanup.exec(delete(Citizen).where(col(Citizen.id) == citizen.id))
            cleanup.commit()
