"""Photo uploads: validate and keep the original, derive clean copies in a job, attach to cases.

The original is stored before the row is written: an upload whose transaction then fails leaves an
orphan object that is content-addressed (a later identical upload reuses it) and never served.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from core.auth.service import Principal
from core.errors import Invalid
from core.jobs import enqueue
from core.kit.clock import ensure_aware, utcnow
from core.models import Citizen, OwnerKind, Upload, UploadStatus
from core.settings import StorageSettings
from core.uploads import imaging, repository
from core.uploads.errors import UploadEmpty, UploadFailed, UploadNotFound, UploadTooLarge, UploadUnknown
from core.uploads.imaging import ExifFacts
from core.uploads.storage import Storage

log = logging.getLogger("zhcg.uploads")

DERIVED_CONTENT_TYPE = "image/jpeg"


def original_key(sha256: str) -> str:
    return f"originals/{sha256[:2]}/{sha256}"


def display_key(upload_id: str) -> str:
    return f"display/{upload_id}.jpg"


def thumb_key(upload_id: str) -> str:
    return f"thumbs/{upload_id}.jpg"


def new_upload_id() -> str:
    return secrets.token_hex(16)


def owner_of(principal: Principal) -> tuple[OwnerKind, int]:
    assert principal.id is not None
    kind = OwnerKind.CITIZEN if isinstance(principal, Citizen) else OwnerKind.STAFF
    return kind, principal.id


@dataclass(frozen=True)
class Received:
    upload: Upload
    exif: ExifFacts | None  # with the photo's own UTC offset (the row keeps UTC)


def receive(
    session: Session,
    *,
    storage: Storage,
    limits: StorageSettings,
    owner: Principal | tuple[OwnerKind, int],
    data: bytes,
) -> Received:
    """Validate an uploaded file, keep the original (once per content) and record the upload; the
    display copy and thumbnail are made by the ``uploads.derive`` job after commit.

    ``owner`` is the signed-in citizen or staff member, or an owner without a principal given as
    (kind, id), e.g. an Open311 client sending a photo with its service request."""
    if not data:
        raise UploadEmpty()
    if len(data) > limits.max_upload_bytes:
        raise UploadTooLarge(limits.max_upload_bytes)
    inspection = imaging.inspect(data, max_pixels=limits.max_pixels)
    sha256 = hashlib.sha256(data).hexdigest()
    key = original_key(sha256)
    if not storage.exists(key):
        storage.put(key, data, inspection.content_type)
    owner_kind, owner_id = owner if isinstance(owner, tuple) else owner_of(owner)
    exif = inspection.exif
    upload = repository.add(
        session,
        Upload(
            id=new_upload_id(),
            owner_kind=owner_kind,
            owner_id=owner_id,
            sha256=sha256,
            content_type=inspection.content_type,
            size_bytes=len(data),
            width=inspection.width,
            height=inspection.height,
            original_key=key,
            exif_lng=exif.lng if exif else None,
            exif_lat=exif.lat if exif else None,
            exif_taken_at=ensure_aware(exif.taken_at) if exif and exif.taken_at else None,
        ),
    )
    enqueue(session, "uploads.derive", upload_id=upload.id)
    return Received(upload=upload, exif=exif)


def derive(session: Session, *, storage: Storage, limits: StorageSettings, upload_id: str) -> Upload | None:
    """Make the display copy and the thumbnail of one upload. Idempotent: a ready upload is left as it
    is. Storage errors propagate (the job is retried); an original that cannot be decoded marks the
    upload failed, with the reason in the log."""
    upload = repository.get_for_update(session, upload_id)
    if upload is None:
        log.warning("upload %s does not exist; nothing to derive", upload_id)
        return None
    if upload.status is UploadStatus.READY:
        return upload
    original = storage.get(upload.original_key)
    try:
        derived = imaging.derive(
            original,
            max_pixels=limits.max_pixels,
            display_max_px=limits.display_max_px,
            thumb_px=limits.thumb_px,
        )
    except Invalid as exc:
        log.warning("upload %s failed: %s (%s)", upload_id, exc.code, exc.message)
        upload.status = UploadStatus.FAILED
    else:
        upload.display_key = display_key(upload.id)
        upload.thumb_key = thumb_key(upload.id)
        storage.put(upload.display_key, derived.display, DERIVED_CONTENT_TYPE)
        storage.put(upload.thumb_key, derived.thumb, DERIVED_CONTENT_TYPE)
        upload.status = UploadStatus.READY
    upload.updated_at = utcnow()
    session.add(upload)
    session.flush()
    return upload


def get_for_owner(session: Session, *, upload_id: str, owner: Principal) -> Upload:
    """One upload of this owner; anybody else's is as unknown as a missing one."""
    upload = repository.get(session, upload_id)
    if upload is None or owner_of(owner) != (upload.owner_kind, upload.owner_id):
        raise UploadUnknown()
    return upload


def attach_check(session: Session, *, upload_ids: Sequence[str], owner: Principal) -> list[Upload]:
    """The uploads to attach to a case, in the order given (duplicates once): each must exist and
    belong to ``owner`` (``upload_not_found`` otherwise, naming the ids) and must not have failed
    (``upload_failed``). Pending uploads are fine: their copies are being made."""
    wanted = list(dict.fromkeys(upload_ids))
    found = {upload.id: upload for upload in repository.by_ids(session, wanted)}
    who = owner_of(owner)
    missing = [
        upload_id
        for upload_id in wanted
        if upload_id not in found or (found[upload_id].owner_kind, found[upload_id].owner_id) != who
    ]
    if missing:
        raise UploadNotFound(missing)
    failed = [upload_id for upload_id in wanted if found[upload_id].status is UploadStatus.FAILED]
    if failed:
        raise UploadFailed(failed)
    return [found[upload_id] for upload_id in wanted]
