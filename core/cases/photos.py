"""Who may look at a case photo, and which copy they get.

Only derived copies are served (auto-oriented, metadata stripped); originals stay private. The owner
sees their own uploads; a citizen sees the report and handling photos of the cases they reported; staff
see the photos of the cases they may view. Anyone else gets 404 (the photo does not exist for them).
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session

from core.cases import repository
from core.cases.access import may_view
from core.errors import NotFound
from core.models import Citizen, PhotoStage, StaffUser, Upload, UploadStatus
from core.uploads import repository as upload_repository
from core.uploads.service import owner_of
from core.uploads.storage import Storage


class Variant(StrEnum):
    DISPLAY = "display"
    THUMB = "thumb"


CITIZEN_STAGES = frozenset({PhotoStage.REPORT, PhotoStage.HANDLING})


class PhotoNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("photo_not_found", "照片不存在或尚未处理完成")


def may_see(session: Session, principal: Citizen | StaffUser, upload: Upload) -> bool:
    if owner_of(principal) == (upload.owner_kind, upload.owner_id):
        return True
    for photo, case in repository.cases_showing_upload(session, upload.id):
        if isinstance(principal, StaffUser) and may_view(session, principal, case):
            return True
        reporter = isinstance(principal, Citizen) and case.reporter_citizen_id == principal.id
        if reporter and photo.stage in CITIZEN_STAGES:
            return True
    return False


def photo_bytes(
    session: Session, storage: Storage, *, principal: Citizen | StaffUser, upload_id: str, variant: Variant
) -> bytes:
    upload = upload_repository.get(session, upload_id)
    if upload is None or upload.status is not UploadStatus.READY or not may_see(session, principal, upload):
        raise PhotoNotFound()
    key = upload.display_key if variant is Variant.DISPLAY else upload.thumb_key
    if key is None:
        raise PhotoNotFound()
    return storage.get(key)
