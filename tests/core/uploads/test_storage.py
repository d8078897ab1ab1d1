"""Storage adapters: the local folder, and S3 over SigV4-signed HTTP against a local fake S3."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from core.settings import StorageSettings
from core.uploads.errors import ObjectMissing, StorageFull, StorageUnavailable
from core.uploads.storage import LocalStorage, S3Storage, Storage, authorization, storage_for
from tests.conftest import TMP_ROOT
from tests.failure._procs import MountRefused, fill, small_tmpfs
from tests.fixtures.fake_s3 import FakeS3, running_fake_s3

BUCKET = "zhcg-photos"


@pytest.fixture
def fake_s3() -> Iterator[FakeS3]:
    with running_fake_s3() as fake:
        yield fake


def s3_settings(fake: FakeS3, **changes: object) -> StorageSettings:
    values: dict[str, object] = {
        "backend": "s3",
        "s3_endpoint": fake.endpoint,
        "s3_bucket": BUCKET,
        "s3_region": fake.region,
        "s3_access_key": fake.access_key,
        "s3_secret_key": fake.secret_key,
        **changes,
    }
    return StorageSettings.model_validate(values)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield storage_for(StorageSettings(local_dir=tmp_path))
        return
    with running_fake_s3() as fake:
        yield storage_for(s3_settings(fake))


def test_put_get_exists(storage: Storage) -> None:
    key = "originals/ab/" + hashlib.sha256(b"photo").hexdigest()
    assert not storage.exists(key)
    storage.put(key, b"photo", "image/jpeg")
    assert storage.exists(key)
    assert storage.get(key) == b"photo"
    storage.put(key, b"again", "image/jpeg")  # overwrite is allowed (derivatives are remade)
    assert storage.get(key) == b"again"


def test_missing_object(storage: Storage) -> None:
    with pytest.raises(ObjectMissing):
        storage.get("display/nothing.jpg")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path", "display/../x", "display/", "Upper/x", ""])
def test_keys_outside_the_scheme_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put(key, b"x", "image/jpeg")


def test_local_storage_writes_atomically_under_its_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("thumbs/abc.jpg", b"jpeg", "image/jpeg")
    assert (tmp_path / "thumbs" / "abc.jpg").read_bytes() == b"jpeg"
    assert [path.name for path in (tmp_path / "thumbs").iterdir()] == ["abc.jpg"]  # no temporary left


def test_local_storage_that_cannot_write_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StorageUnavailable) as caught:
        LocalStorage(blocker).put("thumbs/abc.jpg", b"jpeg", "image/jpeg")
    assert caught.value.code == "storage_unavailable"


def test_local_storage_on_a_full_disk_is_full_and_leaves_nothing_half_written() -> None:
    try:
        with small_tmpfs(TMP_ROOT / f"full-{secrets.token_hex(3)}", "64k") as folder:
            storage = LocalStorage(folder)
            storage.put("thumbs/abc.jpg", b"old", "image/jpeg")
            filler = fill(folder)
            with pytest.raises(StorageFull) as caught:
                storage.put("thumbs/abc.jpg", b"new" * 4096, "image/jpeg")
            assert caught.value.code == "storage_full"
            assert isinstance(caught.value, StorageUnavailable)  # jobs retry it like any storage outage
            assert storage.get("thumbs/abc.jpg") == b"old"  # the object is replaced whole or not at all
            assert sorted(path.name for path in (folder / "thumbs").iterdir()) == ["abc.jpg"]  # no .part
            filler.unlink()
            storage.put("thumbs/abc.jpg", b"new" * 4096, "image/jpeg")
            assert storage.get("thumbs/abc.jpg") == b"new" * 4096
    except MountRefused as exc:
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")


def test_sigv4_matches_the_aws_documentation_example() -> None:
    # "Example: GET Object" of the S3 SigV4 header-based authentication documentation.
    empty = hashlib.sha256(b"").hexdigest()
    header = authorization(
        method="GET",
        path="/test.txt",
        query="",
        headers={
            "Host": "examplebucket.s3.amazonaws.com",
            "Range": "bytes=0-9",
            "x-amz-content-sha256": empty,
            "x-amz-date": "20130524T000000Z",
        },
        payload_sha256=empty,
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        amz_date="20130524T000000Z",
    )
    assert header == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_s3_objects_land_in_the_bucket_with_their_content_type(fake_s3: FakeS3) -> None:
    storage = storage_for(s3_settings(fake_s3))
    storage.put("display/abc.jpg", b"jpeg bytes", "image/jpeg")
    stored = fake_s3.objects[(BUCKET, "display/abc.jpg")]
    assert (stored.data, stored.content_type) == (b"jpeg bytes", "image/jpeg")
    assert fake_s3.log[-1] == ("PUT", f"/{BUCKET}/display/abc.jpg", 200)


def test_s3_client_is_reused_per_configuration(fake_s3: FakeS3) -> None:
    assert storage_for(s3_settings(fake_s3)) is storage_for(s3_settings(fake_s3))


def test_s3_wrong_secret_is_refused_by_the_signature_check(fake_s3: FakeS3) -> None:
    storage = storage_for(s3_settings(fake_s3, s3_secret_key="not-the-right-secret-key"))
    with pytest.raises(StorageUnavailable, match="SignatureDoesNotMatch"):
        storage.put("display/abc.jpg", b"x", "image/jpeg")
    with pytest.raises(StorageUnavailable, match="403"):
        storage.exists("display/abc.jpg")
    assert fake_s3.objects == {}


def test_s3_wrong_region_or_bucket_is_an_error(fake_s3: FakeS3) -> None:
    with pytest.raises(StorageUnavailable, match="AuthorizationHeaderMalformed"):
        storage_for(s3_settings(fake_s3, s3_region="us-east-1")).put("display/a.jpg", b"x", "image/jpeg")
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        storage_for(s3_settings(fake_s3, s3_bucket="other")).put("display/a.jpg", b"x", "image/jpeg")


def test_s3_server_error_and_unreachable_server_are_unavailable(fake_s3: FakeS3) -> None:
    storage = storage_for(s3_settings(fake_s3))
    fake_s3.fail_next = 1
    with pytest.raises(StorageUnavailable, match="InternalError"):
        storage.get("display/abc.jpg")
    gone = S3Storage(
        endpoint="http://127.0.0.1:9", bucket=BUCKET, region="x", access_key="a", secret_key="b", timeout_s=2
    )
    with pytest.raises(StorageUnavailable) as caught:
        gone.exists("display/abc.jpg")
    assert caught.value.code == "storage_unavailable"


def test_s3_settings_must_be_complete() -> None:
    with pytest.raises(ValidationError, match="ZHCG_STORAGE__S3_ENDPOINT"):
        StorageSettings(
            backend="s3", s3_bucket="b", s3_access_key=SecretStr("a"), s3_secret_key=SecretStr("s")
        )
    with pytest.raises(ValidationError, match="ZHCG_STORAGE__S3_SECRET_KEY"):
        StorageSettings(backend="s3", s3_endpoint="http://x", s3_bucket="b", s3_access_key=SecretStr("a"))
