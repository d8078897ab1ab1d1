"""Background jobs: enqueued on the session, sent only after the unit of work commits.

``enqueue(session, "system.ping", token=...)`` buffers the job on the session's current transaction.
When the outermost transaction commits the buffer is handed to the dispatcher; when it (or a
savepoint the job was enqueued in) rolls back, the jobs are dropped — so a job never sees data that
was not committed, and a failed request sends nothing.

Dispatchers: with ``ZHCG_REDIS__URL`` set, jobs go to RQ queues and a ``python -m workers`` process
runs them with retries; without Redis (the embedded default) they run inline right after commit.

With Redis, jobs also go through a transactional outbox (decision 0016, ``core/jobs_outbox.py``): the
jobs of a commit are written to ``job_outbox`` in that transaction (one INSERT), sent to Redis once
the transaction has ended, and their rows deleted a moment later (many commits' in one DELETE). When
Redis is down the rows stay and ``relay_outbox`` (run by the cron process) sends them later, oldest
first, under a job id made from the row id, so a job sent twice is queued once.

Each job carries the request id of the code that enqueued it (``core.kit.request_id``) in its RQ meta;
the worker runs the job under that id, so its log lines can be found with the request's.

Jobs are addressed by a dotted path string (as RQ does), so core never imports the ``workers``
entry point; the registry below is the single list of what exists.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, SessionTransaction, SessionTransactionOrigin

from core import jobs_outbox
from core.kit.clock import utcnow
from core.kit.request_id import current_request_id
from core.settings import Settings, get_settings

log = logging.getLogger("zhcg.jobs")

_PENDING_KEY = "zhcg_pending_jobs"  # [(transaction, job)]: enqueued, not committed yet
_OUTBOX_KEY = "zhcg_outbox_jobs"  # (dispatcher, target): the jobs' rows were written before commit
_COMMITTED_KEY = "zhcg_committed_jobs"  # [job]: committed, sent once the transaction has ended
REQUEST_ID_META = "request_id"  # key of the request id in an RQ job's meta (read by workers/queues.py)
# After a Redis error, commits leave their jobs to the relay for this long instead of trying again
# each time: a black-holed Redis would otherwise add a connect timeout to every request.
REDIS_BACKOFF_S = 5.0
RELAY_MIN_AGE = timedelta(seconds=10)  # the committing process sends its jobs within milliseconds


@dataclass(frozen=True)
class JobSpec:
    path: str
    queue: str = "default"
    retries: tuple[int, ...] = (10, 30, 120, 600, 1800)
    timeout_s: int = 300


JOBS: dict[str, JobSpec] = {
    "system.ping": JobSpec("workers.jobs.system.ping", retries=()),
    "calendar.check_years": JobSpec("workers.jobs.calendar.check_years"),
    "notify.deliver": JobSpec("workers.jobs.notify.deliver", queue="notify"),
    "notify.sweep": JobSpec("workers.jobs.notify.sweep", queue="notify"),
    "uploads.derive": JobSpec("workers.jobs.uploads.derive", queue="photos"),
    "cases.mark_overdue": JobSpec("workers.jobs.cases.mark_overdue"),
    "housekeeping.purge": JobSpec("workers.jobs.housekeeping.purge", retries=(600,)),
    "exchange.push": JobSpec("workers.jobs.exchange.push", queue="exchange"),
    "exchange.sweep": JobSpec("workers.jobs.exchange.sweep", queue="exchange"),
    "payments.receipt": JobSpec("workers.jobs.payments.receipt", queue="payments"),
    "payments.close_at_provider": JobSpec("workers.jobs.payments.close_at_provider", queue="payments"),
    "payments.poll_pending": JobSpec("workers.jobs.payments.poll_pending", queue="payments", retries=()),
    "payments.close_expired": JobSpec("workers.jobs.payments.close_expired", queue="payments", retries=()),
    "payments.refund": JobSpec("workers.jobs.payment_refunds.refund", queue="payments"),
    "payments.refund_poll": JobSpec("workers.jobs.payment_refunds.refund_poll", queue="payments", retries=()),
    "payments.reconcile": JobSpec("workers.jobs.reconcile.reconcile", queue="payments", timeout_s=1800),
}


@dataclass(frozen=True)
class PendingJob:
    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None  # of the request (or job, or cron slot) that enqueued it
    outbox_id: int | None = None  # its job_outbox row, once written

    @property
    def spec(self) -> JobSpec:
        return JOBS[self.name]


class Dispatcher(Protocol):
    # True: jobs are written to the outbox before the commit and their rows deleted once sent.
    uses_outbox: bool

    def dispatch(self, jobs: list[PendingJob]) -> list[int]:
        """Hand over committed jobs; the outbox ids of those now safely queued."""
        ...


def resolve(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.rpartition(".")
    func: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return func


class InlineDispatcher:
    """Runs each job in this process right after commit (embedded default). A failing job is logged
    and does not affect the request that already committed."""

    uses_outbox = False

    def dispatch(self, jobs: list[PendingJob]) -> list[int]:
        for job in jobs:
            try:
                resolve(job.spec.path)(**job.kwargs)
            except Exception:
                log.exception("inline job %s failed", job.name)
        return []


class RQDispatcher:
    uses_outbox = True

    def __init__(self, redis_url: str, queue_prefix: str) -> None:
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Bounded waits: a send happens after a request's commit, before its response. One immediate
        # retry covers a pooled connection that Redis closed (a restart); more would only delay the
        # request, and the outbox keeps the job anyway.
        self.connection = Redis.from_url(
            redis_url, socket_connect_timeout=1, socket_timeout=5, retry=Retry(NoBackoff(), 1)
        )
        self.queue_prefix = queue_prefix
        self._queues: dict[str, Any] = {}  # rq.Queue per name: building one per send is measurable
        self._down_until = 0.0  # monotonic time before which commits do not try Redis again

    def queue_name(self, queue: str) -> str:
        return f"{self.queue_prefix}-{queue}"

    def outbox_job_id(self, outbox_id: int) -> str:
        """The RQ job id of an outbox row: the same for every send of that row."""
        return f"{self.queue_prefix}-outbox-{outbox_id}"

    def send(self, job: PendingJob, *, job_id: str | None = None) -> bool:
        """Put one job on its queue with the retries and timeout of its spec and its request id in the
        meta. A job with an id (``job_id``, else its outbox row's) is queued only if no job with that id
        exists in Redis: False then, as it was sent before. Raises on Redis errors."""
        from rq import Queue, Retry
        from rq.exceptions import DuplicateJobError

        spec = job.spec
        queue = self._queues.get(spec.queue)
        if queue is None:
            queue = self._queues[spec.queue] = Queue(self.queue_name(spec.queue), connection=self.connection)
        retry = Retry(max=len(spec.retries), interval=list(spec.retries)) if spec.retries else None
        if job_id is None and job.outbox_id is not None:
            job_id = self.outbox_job_id(job.outbox_id)
        try:
            queue.enqueue(
                spec.path,
                kwargs=dict(job.kwargs),
                retry=retry,
                job_timeout=spec.timeout_s,
                job_id=job_id,
                unique=job_id is not None,
                meta={REQUEST_ID_META: job.request_id} if job.request_id else None,
            )
        except DuplicateJobError:
            return False
        return True

    def dispatch(self, jobs: list[PendingJob]) -> list[int]:
        # The data is already committed: a Redis failure must not turn into an error of the request.
        # The jobs' outbox rows stay and the relay sends them; a job without a row is lost (logged).
        from redis.exceptions import RedisError

        if time.monotonic() < self._down_until:
            _log_left_behind(jobs, "Redis was unreachable moments ago")
            return []
        sent: list[int] = []
        for index, job in enumerate(jobs):
            try:
                self.send(job)
            except RedisError as exc:
                self._down_until = time.monotonic() + REDIS_BACKOFF_S
                _log_left_behind(jobs[index:], f"Redis error {type(exc).__name__}: {exc}")
                break
            except Exception:
                log.exception("could not enqueue job %s after commit", job.name)
                continue
            if job.outbox_id is not None:
                sent.append(job.outbox_id)
        return sent


def _log_left_behind(jobs: list[PendingJob], reason: str) -> None:
    kept = [job.name for job in jobs if job.outbox_id is not None]
    lost = [job.name for job in jobs if job.outbox_id is None]
    if kept:
        log.warning("%s: %d job(s) wait in the outbox for the relay (%s)", reason, len(kept), ", ".join(kept))
    if lost:
        log.error("could not enqueue job(s) %s after commit (%s)", ", ".join(lost), reason)


_dispatcher: Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def configure_jobs(settings: Settings) -> Dispatcher:
    """Choose the dispatcher for this process from the settings (called by each entry point)."""
    global _dispatcher
    with _dispatcher_lock:
        if settings.redis.url:
            _dispatcher = RQDispatcher(settings.redis.url, settings.redis.queue_prefix)
        else:
            _dispatcher = InlineDispatcher()
        return _dispatcher


def get_dispatcher() -> Dispatcher:
    return _dispatcher or configure_jobs(get_settings())


def enqueue(session: Session, name: str, /, **kwargs: Any) -> None:
    """Buffer job ``name`` on the session; it is sent after the outermost commit. Arguments must be JSON
    values (ids): they are stored in the outbox and read back by the relay."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    json.dumps(kwargs)  # raises TypeError here, at the call that passed something else
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    pending: list[tuple[SessionTransaction, PendingJob]] = session.info.setdefault(_PENDING_KEY, [])
    pending.append((transaction, PendingJob(name, kwargs, request_id=current_request_id())))


def pending_jobs(session: Session) -> list[PendingJob]:
    return [job for _, job in session.info.get(_PENDING_KEY, [])]


def relay_outbox(
    engine: Engine, dispatcher: RQDispatcher, *, min_age: timedelta = RELAY_MIN_AGE, batch: int = 500
) -> int:
    """Send the outbox rows older than ``min_age`` to Redis, oldest first; the number sent.

    Each batch is claimed in one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
    relays share the work) and its sent rows deleted in it. A job already in Redis (its committing
    process sent it but died before deleting the row) is refused by its job id and only deleted. A
    Redis error ends the pass: the rest waits for the next one. ``min_age`` leaves the rows that their
    committing process is sending right now to that process.
    """
    created_before = utcnow() - min_age
    after_id, total = 0, 0
    while True:
        with engine.begin() as connection:
            rows = jobs_outbox.claim(
                connection, created_before=created_before, after_id=after_id, limit=batch
            )
            done, stopped = _relay_rows(dispatcher, rows)
            if done:
                jobs_outbox.delete_sent(connection, done)
        total += len(done)
        if stopped or len(rows) < batch:
            return total
        after_id = rows[-1].id


def _relay_rows(dispatcher: RQDispatcher, rows: list[jobs_outbox.OutboxRow]) -> tuple[list[int], bool]:
    """Send claimed rows; (ids to delete, whether Redis failed)."""
    from redis.exceptions import RedisError

    done: list[int] = []
    for row in rows:
        if row.job not in JOBS:
            log.error("outbox row %s names no job (%r): deleted", row.id, row.job)
            done.append(row.id)
            continue
        try:
            if not dispatcher.send(PendingJob(row.job, row.kwargs, row.request_id, row.id)):
                log.info("outbox row %s was already in Redis", row.id)
        except RedisError as exc:
            log.warning("relay stopped by a Redis error (%s): %s", type(exc).__name__, exc)
            return done, True
        except Exception:
            log.exception("outbox row %s (%s) could not be sent", row.id, row.job)
            continue
        done.append(row.id)
    return done, False


def _lineage(transaction: SessionTransaction) -> list[SessionTransaction]:
    chain: list[SessionTransaction] = []
    current: SessionTransaction | None = transaction
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


@event.listens_for(Session, "before_commit")
def _write_outbox(session: Session) -> None:
    # Fired for savepoint releases too; only the outermost commit is the one the rows must join.
    if session.in_nested_transaction():
        return
    pending: list[tuple[SessionTransaction, PendingJob]] = session.info.get(_PENDING_KEY, [])
    if not pending:
        return
    dispatcher = get_dispatcher()
    if not dispatcher.uses_outbox:
        return
    ids = jobs_outbox.write(session, [(job.name, job.kwargs, job.request_id) for _, job in pending])
    session.info[_PENDING_KEY] = [
        (transaction, replace(job, outbox_id=outbox_id))
        for (transaction, job), outbox_id in zip(pending, ids, strict=True)
    ]
    bind = session.get_bind()
    # A session joined to an outer transaction (the tests) deletes in that transaction; any other
    # deletes through its engine, after its own connection went back to the pool.
    target: Engine | Connection = bind if isinstance(bind, Connection) else bind.engine
    session.info[_OUTBOX_KEY] = (dispatcher, target)


@event.listens_for(Session, "after_commit")
def _keep_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    pending: list[tuple[SessionTransaction, PendingJob]] = session.info.pop(_PENDING_KEY, [])
    if pending:
        session.info[_COMMITTED_KEY] = [job for _, job in pending]


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # A failed flush rolls back an internal subtransaction; what is really lost is the savepoint or
    # the transaction that holds it, so drop the jobs of that one.
    rolled_back = previous_transaction
    while rolled_back.origin is SessionTransactionOrigin.SUBTRANSACTION and rolled_back.parent is not None:
        rolled_back = rolled_back.parent
    pending: list[tuple[SessionTransaction, PendingJob]] = session.info.get(_PENDING_KEY, [])
    if pending:
        kept = [(tx, job) for tx, job in pending if rolled_back not in _lineage(tx)]
        session.info[_PENDING_KEY] = kept


@event.listens_for(Session, "after_transaction_end")
def _send_at_end(session: Session, transaction: SessionTransaction) -> None:
    """When the outermost transaction has ended, send what it committed; whatever is still pending
    (closed or rolled back without commit) is dropped. Sending here rather than in ``after_commit``
    means the session's connection is back in the pool: an inline job or the outbox delete reuses it
    instead of holding a second one."""
    if transaction.parent is not None:
        return
    session.info.pop(_PENDING_KEY, None)
    outbox: tuple[Dispatcher, Engine | Connection] | None = session.info.pop(_OUTBOX_KEY, None)
    committed: list[PendingJob] | None = session.info.pop(_COMMITTED_KEY, None)
    if not committed:
        return
    dispatcher = outbox[0] if outbox is not None else get_dispatcher()
    sent = dispatcher.dispatch(committed)
    if sent and outbox is not None:
        target = outbox[1]
        if isinstance(target, Engine):
            _deferred_deletes(target).add(sent)
            return
        try:  # a session joined to an outer transaction (tests): delete in that transaction, now
            jobs_outbox.delete_sent(target, sent)
        except Exception:
            # The jobs are in Redis; their rows are sent again by the relay and refused as duplicates.
            log.exception("could not delete %d sent job(s) from the outbox", len(sent))


_deleters: dict[int, jobs_outbox.DeferredDeletes] = {}


def _deferred_deletes(engine: Engine) -> jobs_outbox.DeferredDeletes:
    """One gatherer of outbox deletes per engine (engines are per process and URL: ``core.db``)."""
    deleter = _deleters.get(id(engine))
    if deleter is None or deleter.engine is not engine:
        with _dispatcher_lock:
            deleter = _deleters.get(id(engine))
            if deleter is None or deleter.engine is not engine:
                deleter = _deleters[id(engine)] = jobs_outbox.DeferredDeletes(engine)
    return deleter


def flush_outbox_deletes() -> None:
    """Delete the gathered rows now (at shutdown; the relay would otherwise send them once more)."""
    for deleter in list(_deleters.values()):
        deleter.flush()


atexit.register(flush_outbox_deletes)
