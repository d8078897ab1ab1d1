"""The queries of the job outbox (``job_outbox``, decision 0016): written with the change, deleted once
the job is in Redis, claimed by the relay when Redis was down.

The hot path costs one ``INSERT … RETURNING id`` per commit (all of its jobs in one statement, inside
the transaction) and one ``DELETE`` after the jobs reached Redis (on PostgreSQL one round trip, not
waiting for the WAL flush).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from core.kit.clock import utcnow
from core.models import JobOutbox

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
