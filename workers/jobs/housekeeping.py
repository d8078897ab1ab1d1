"""Daily housekeeping: purge what no longer needs keeping (``core.retention`` says what and why)."""

from __future__ import annotations

import logging

from core import retention
from core.kit.clock import utcnow
from workers.context import job_session

log = logging.getLogger("zhcg.housekeeping")


def purge() -> None:
    with job_session() as session:
        deleted = retention.purge(session, now=utcnow())
    log.info("housekeeping purge: %s", deleted)
