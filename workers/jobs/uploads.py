"""Photo jobs."""

from __future__ import annotations

from core.uploads import service as uploads
from core.uploads.storage import storage_for
from workers.context import get_settings, job_session


def derive(upload_id: str) -> None:
    """Make the display copy and thumbnail of an upload (idempotent; storage errors are retried)."""
    settings = get_settings()
    storage = storage_for(settings.storage)
    with job_session() as session:
        uploads.derive(session, storage=storage, limits=settings.storage, upload_id=upload_id)
