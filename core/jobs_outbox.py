"""The queries of the job outbox (``job_outbox``, decision 0016): written with the change, deleted once
the job is in Redis, claimed by the relay when Redis was down.

The hot path costs one ``INSERT … RETURNING id`` per commit (all of its jobs in one statement, inside
the transaction) and one ``DELETE`` after the jobs reached Redis (on PostgreSQL one round trip, not
waiting for the WAL flush).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from core.kit.clock import utcnow
from core.models import JobOutbox

log = logging.getLogger("zhcg.jobs")

TABLE = JobOutbox.__table__  # type: ignore[attr-defined]  # Core statements: no ORM bookkeeping needed


@dataclass(frozen=True)
class OutboxRow:
    id: int
    job: str
    kwargs: dict[str, Any]
    request_id: str | None


def write(session: Session, jobs: Sequence[tuple[str, Mapping[str, Any], str | None]]) -> list[int]:
    """Insert one row per (name, kwargs, request id) in the session's transaction; their ids in order."""
    now = utcnow()
    rows = [
        {"created_at": now, "job": name, "arguments": json.dumps(kwargs), "request_id": request_id}
        for name, kwargs, request_id in jobs
    ]
    if session.get_bind().dialect.name == "sqlite":
        # SQLAlchemy sends one INSERT per row when asked to return ids in parameter order on SQLite,
        # which does not promise an order for RETURNING. One multi-row INSERT into an AUTOINCREMENT
        # table hands out increasing ids in VALUES order, so sorted ids are in parameter order.
        statement = insert(TABLE).returning(TABLE.c.id)
        return sorted(int(row_id) for row_id in session.execute(statement, rows).scalars())
    statement = insert(TABLE).returning(TABLE.c.id, sort_by_parameter_order=True)
    return [int(row_id) for row_id in session.execute(statement, rows).scalars()]


def delete_sent(target: Engine | Connection, ids: Sequence[int]) -> None:
    """Delete the rows of jobs now in Redis. ``target`` is the engine (a pooled connection, committed
    at once) or, for a session joined to an outer transaction (tests), that transaction's connection."""
    statement = delete(TABLE).where(TABLE.c.id.in_(list(ids)))
    if isinstance(target, Connection):
        target.execute(statement)
        return
    if target.dialect.name == "postgresql":
        # On the hot path (every commit with jobs), so: one round trip — the statements go as one simple
        # query, which is why the ids (integers we generated) are inlined — and no wait for the WAL flush.
        # Losing this DELETE in a crash is harmless: the relay sends the row again and Redis refuses it as
        # a duplicate job id. A durable commit here would double the fsyncs of every such request.
        id_list = ", ".join(str(int(row_id)) for row_id in ids)  # integers only: nothing to inject
        sql = f"DELETE FROM job_outbox WHERE id IN ({id_list})"  # noqa: S608
        with target.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"BEGIN; SET LOCAL synchronous_commit TO OFF; {sql}; COMMIT")
        return
    with target.begin() as connection:  # SQLite: its BEGIN comes from core.db's event listener
        connection.execute(statement)


class DeferredDeletes:
    """Deletes of sent rows, gathered for a moment and sent as one statement by a daemon thread.

    After each commit with jobs the rows of the jobs now in Redis go; deleting them right away cost one
    more round trip per request (about 5 % of a payment notification's server time). Gathered for
    ``delay_s`` they cost one statement for every request of that moment. The thread does no important
    work: rows it never deletes (the process died first) are sent again by the relay, which Redis refuses
    as duplicate job ids, and are deleted then.
    """

    def __init__(self, engine: Engine, *, delay_s: float = 0.2) -> None:
        self.engine = engine
        self.delay_s = delay_s
        self._ids: list[int] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, ids: Sequence[int]) -> None:
        with self._lock:
            self._ids.extend(ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="zhcg-outbox-deletes", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Delete what is gathered now; the number of rows asked to delete."""
        with self._lock:
            ids, self._ids = self._ids, []
        if ids:
            try:
                delete_sent(self.engine, ids)
            except Exception:
                log.exception("could not delete %d sent job(s) from the outbox (the relay will)", len(ids))
        return len(ids)

    def _run(self) -> None:
        while True:
            time.sleep(self.delay_s)
            if not self.flush():
                with self._lock:  # nothing came meanwhile: end; the next add starts a new thread
                    if not self._ids:
                        self._thread = None
                        return


def claim(connection: Connection, *, created_before: datetime, after_id: int, limit: int) -> list[OutboxRow]:
    """The oldest rows written before ``created_before`` with an id above ``after_id``, locked until the
    connection's transaction ends. On PostgreSQL rows claimed by another relay are skipped
    (``FOR UPDATE SKIP LOCKED``), so several relays share the backlog without sending a row twice."""
    statement = (
        select(TABLE.c.id, TABLE.c.job, TABLE.c.arguments, TABLE.c.request_id)
        .where(TABLE.c.created_at < created_before, TABLE.c.id > after_id)
        .order_by(TABLE.c.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return [
        OutboxRow(int(row.id), str(row.job), _kwargs(row.arguments), row.request_id)
        for row in connection.execute(statement)
    ]


def _kwargs(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def backlog(session: Session, *, now: datetime) -> tuple[int, float]:
    """Rows waiting and the age in seconds of the oldest (0 when none): the outbox gauges."""
    count, oldest = session.execute(select(func.count(), func.min(TABLE.c.created_at))).one()
    if not count or oldest is None:
        return 0, 0.0
    return int(count), max(0.0, (now - oldest).total_seconds())
