"""Where photo bytes live: a local folder (embedded default) or any S3-compatible object store.

Keys are relative, slash-separated and made by ``core.uploads.service`` only (``originals/ab/<sha256>``,
``display/<id>.jpg``, ``thumbs/<id>.jpg``). Nothing here is public: originals keep their EXIF (GPS!) and
are never served as they are.

``S3Storage`` speaks the S3 REST API itself (path-style URLs, AWS Signature Version 4 in the
``Authorization`` header, signed payload hash) over httpx, so it works with AWS, MinIO, Aliyun OSS,
Tencent COS, Huawei OBS … without an SDK.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx

from core.kit.clock import utcnow
from core.settings import StorageSettings
from core.uploads.errors import ObjectMissing, StorageFull, StorageUnavailable

log = logging.getLogger("zhcg.uploads")

# No space left, or the photo folder's quota is used up: both mean "the disk is full" to an operator.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})

_KEY = re.compile(r"^[a-z]+(/[A-Za-z0-9][A-Za-z0-9._-]*)+$")


def check_key(key: str) -> str:
    """Keys are produced by our code; anything else (``..``, absolute paths) is a bug."""
    if not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


class LocalStorage:
    """Files under one folder; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write ``key`` whole or not at all: the bytes go to a temporary file in the same folder,
        flushed to disk, then renamed over the target; on any failure (a full disk included, which may
        only show when the file is flushed or closed) the temporary file is removed."""
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            if exc.errno in NO_SPACE:
                log.error("the photo folder %s is full: cannot write %s", self.root, key)
                raise StorageFull(f"cannot write {key}: {exc}") from exc
            raise StorageUnavailable(f"cannot write {key}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


# --- AWS Signature Version 4 ----------------------------------------------------------------------

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    k_date = _hmac(f"AWS4{secret_key}".encode(), date)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def canonical_query(query: str) -> str:
    """Query parameters sorted by name then value, each name and value URI-encoded once."""
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def authorization(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    access_key: str,
    secret_key: str,
    region: str,
    amz_date: str,
    service: str = "s3",
) -> str:
    """The ``Authorization`` header value for a request whose ``headers`` (which must include ``host``
    and ``x-amz-date``) are all signed. ``path`` is the URI path exactly as sent (already encoded)."""
    signed = {name.lower(): " ".join(value.strip().split()) for name, value in headers.items()}
    signed_names = ";".join(sorted(signed))
    canonical_request = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
            signed_names,
            payload_sha256,
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    signature = hmac.new(
        signing_key(secret_key, amz_date[:8], region, service), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return f"{ALGORITHM} Credential={access_key}/{scope},SignedHeaders={signed_names},Signature={signature}"


class S3Storage:
    """Objects in one bucket of an S3-compatible service, path-style (``{endpoint}/{bucket}/{key}``)."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str,
        access_key: str,
        secret_key: str,
        timeout_s: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._client = client or httpx.Client(timeout=timeout_s)

    def url(self, key: str) -> httpx.URL:
        return httpx.URL(f"{self.endpoint}/{quote(self.bucket, safe='')}/{quote(check_key(key), safe='/')}")

    def _send(
        self, method: str, key: str, body: bytes = b"", extra: Mapping[str, str] | None = None
    ) -> httpx.Response:
        url = self.url(key)
        now: datetime = utcnow()
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        payload_sha256 = hashlib.sha256(body).hexdigest()
        headers = {
            "host": url.netloc.decode("ascii"),
            "x-amz-date": amz_date,
            "x-amz-content-sha256": payload_sha256,
            **(extra or {}),
        }
        headers["authorization"] = authorization(
            method=method,
            path=url.raw_path.decode("ascii").split("?", 1)[0],
            query=url.query.decode("ascii"),
            headers=headers,
            payload_sha256=payload_sha256,
            access_key=self._access_key,
            secret_key=self._secret_key,
            region=self.region,
            amz_date=amz_date,
        )
        try:
            return self._client.request(method, url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"{method} {key}: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _fail(method: str, key: str, response: httpx.Response) -> StorageUnavailable:
        code = re.search(r"<Code>([^<]{1,64})</Code>", response.text)
        detail = code.group(1) if code else response.reason_phrase
        return StorageUnavailable(f"{method} {key}: HTTP {response.status_code} {detail}")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        extra = {"content-type": content_type, "content-length": str(len(data))}
        response = self._send("PUT", key, data, extra)
        if response.status_code != 200:
            raise self._fail("PUT", key, response)

    def get(self, key: str) -> bytes:
        response = self._send("GET", key)
        if response.status_code == 404:
            raise ObjectMissing(key)
        if response.status_code != 200:
            raise self._fail("GET", key, response)
        return response.content

    def exists(self, key: str) -> bool:
        response = self._send("HEAD", key)
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._fail("HEAD", key, response)
        return True


_s3_clients: dict[tuple[int, str, str, str, str, str], S3Storage] = {}
_s3_lock = threading.Lock()


def storage_for(settings: StorageSettings) -> Storage:
    """The storage configured in ``settings`` (S3 clients are reused per process and configuration)."""
    if settings.backend == "local":
        return LocalStorage(settings.local_dir)
    # StorageSettings refuses backend=s3 without them.
    assert settings.s3_endpoint is not None
    assert settings.s3_bucket is not None
    access_key = settings.s3_access_key.get_secret_value()
    secret_key = settings.s3_secret_key.get_secret_value()
    key = (os.getpid(), settings.s3_endpoint, settings.s3_bucket, settings.s3_region, access_key, secret_key)
    with _s3_lock:
        storage = _s3_clients.get(key)
        if storage is None:
            storage = _s3_clients[key] = S3Storage(
                endpoint=settings.s3_endpoint,
                bucket=settings.s3_bucket,
                region=settings.s3_region,
                access_key=access_key,
                secret_key=secret_key,
            )
        return storage
