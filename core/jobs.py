"""Background jobs: enqueued on the session, sent only after the unit of work commits.

``enqueue(session, "system.ping", token=...)`` buffers the job on the session's current transaction.
When the outermost transaction commits the buffer is handed to the dispatcher; when it (or a
savepoint the job was enqueued in) rolls back, the jobs are dropped — so a job never sees data that
was not committed, and a failed request sends nothing.

Dispatchers: with ``ZHCG_REDIS__URL`` set, jobs go to RQ queues and a ``python -m workers`` process
runs them with retries; without Redis (the embedded default) they run inline right after commit.

Jobs are addressed by a dotted path string (as RQ does), so core never imports the ``workers``
entry point; the registry below is the single list of what exists.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, SessionTransactionOrigin

from core.settings import Settings, get_settings

log = logging.getLogger("zhcg.jobs")

_PENDING_KEY = "zhcg_pending_jobs"


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

    @property
    def spec(self) -> JobSpec:
        return JOBS[self.name]


class Dispatcher(Protocol):
    def dispatch(self, jobs: list[PendingJob]) -> None: ...


def resolve(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.rpartition(".")
    func: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return func


class InlineDispatcher:
    """Runs each job in this process right after commit (embedded default). A failing job is logged
    and does not affect the request that already committed."""

    def dispatch(self, jobs: list[PendingJob]) -> None:
        for job in jobs:
            try:
                resolve(job.spec.path)(**job.kwargs)
            except Exception:
                log.exception("inline job %s failed", job.name)


class RQDispatcher:
    def __init__(self, redis_url: str, queue_prefix: str) -> None:
        from redis import Redis

        self.connection = Redis.from_url(redis_url)
        self.queue_prefix = queue_prefix
        self._queues: dict[str, Any] = {}  # rq.Queue per name: building one per send is measurable

    def queue_name(self, queue: str) -> str:
        return f"{self.queue_prefix}-{queue}"

    def send(self, job: PendingJob) -> None:
        """Put one job on its queue with the retries and timeout of its spec (raises on Redis errors)."""
        from rq import Queue, Retry

        spec = job.spec
        queue = self._queues.get(spec.queue)
        if queue is None:
            queue = self._queues[spec.queue] = Queue(self.queue_name(spec.queue), connection=self.connection)
        retry = Retry(max=len(spec.retries), interval=list(spec.retries)) if spec.retries else None
        queue.enqueue(spec.path, kwargs=dict(job.kwargs), retry=retry, job_timeout=spec.timeout_s)

    def dispatch(self, jobs: list[PendingJob]) -> None:
        # The data is already committed: a Redis failure must not turn into an error of the request,
        # and one failed job must not stop the others. It is logged loudly instead.
        for job in jobs:
            try:
                self.send(job)
            except Exception:
                log.exception("could not enqueue job %s after commit", job.name)


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
    """Buffer job ``name`` on the session; it is sent after the outermost commit."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    pending: list[tuple[SessionTransaction, PendingJob]] = session.info.setdefault(_PENDING_KEY, [])
    pending.append((transaction, PendingJob(name, kwargs)))


def pending_jobs(session: Session) -> list[PendingJob]:
    return [job for _, job in session.info.get(_PENDING_KEY, [])]


def _lineage(transaction: SessionTransaction) -> list[SessionTransaction]:
    chain: list[SessionTransaction] = []
    current: SessionTransaction | None = transaction
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    # Fired for savepoint releases too; only the outermost commit makes data visible to a job.
    if session.in_nested_transaction():
        return
    pending: list[tuple[SessionTransaction, PendingJob]] = session.info.pop(_PENDING_KEY, [])
    if pending:
        get_dispatcher().dispatch([job for _, job in pending])


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
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    """Whatever is still pending when the outermost transaction ends (closed without commit) is dropped."""
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
