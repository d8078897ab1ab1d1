"""Jobs on their way to Redis: the transactional outbox of ``core.jobs`` (decision 0016).

With Redis configured, every job enqueued on a session is also written here in the same transaction,
so a committed change never loses its job: the process that committed sends the job right after the
commit and deletes the row; when Redis is down the row stays and the relay (``python -m workers cron``)
sends it later, with the row id in the RQ job id so a job sent twice is queued once.

Rows live for milliseconds normally; the table only grows while Redis is unreachable.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models.base import created_at_field


class JobOutbox(SQLModel, table=True):
    __tablename__ = "job_outbox"
    # SQLite: AUTOINCREMENT, so the id of a deleted row is never given again (the RQ job id is made from
    # it, and a reused id would look like a job already sent). PostgreSQL sequences never reuse ids.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    )
    created_at: datetime = created_at_field()
    job: str = Field(max_length=64)  # the name in core.jobs.JOBS
    arguments: str = Field(default="{}", sa_type=sa.Text)  # the keyword arguments, a JSON object
    request_id: str | None = Field(default=None, max_length=64)  # of the request that enqueued it
