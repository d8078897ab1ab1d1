"""Queue names, the Redis connection of the worker process, and zhcg's RQ worker class."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Worker
from rq.job import Job
from rq.queue import Queue

from core.jobs import JOBS, REQUEST_ID_META
from core.kit.request_id import bound_request_id
from core.settings import Settings

# RQ's defaults, kept unless `python -m workers worker` is told otherwise (docs/operations.md).
JOB_HEARTBEAT_S = 30  # RQ's job_monitoring_interval
MAINTENANCE_S = 60  # RQ runs its registry clean-up every 600 s; a dead worker's job waited that long
MIN_GRACE_S = 5


def queue_names(settings: Settings) -> list[str]:
    queues = sorted({spec.queue for spec in JOBS.values()})
    return [f"{settings.redis.queue_prefix}-{name}" for name in queues]


def redis_connection(settings: Settings) -> Redis:
    if not settings.redis.url:
        raise SystemExit("ZHCG_REDIS__URL is not set: without Redis, jobs run inline in the web process")
    return Redis.from_url(settings.redis.url)


class ZhcgWorker(Worker):
    """RQ's forking worker, with these changes.

    - Each job runs under the request id it was sent with (``core.jobs`` puts it in the job's meta), or
      ``job-<job id>`` without one, so its log lines (and RQ's "Job OK") carry it.
    - A job's claim in the started registry lasts the heartbeat interval plus twice that interval (RQ:
      plus 60 s). When the whole worker dies (SIGKILL, a lost machine) nobody marks its job failed: the
      claim expires and the next registry clean-up of any worker retries the job (``AbandonedJobError``,
      retries of its spec permitting). Both delays follow ``--job-heartbeat`` and ``--maintenance``;
      an idle worker waits for jobs no longer than the maintenance interval, so its clean-ups are not
      put off until the next job arrives.
    """

    def perform_job(self, job: Job, queue: Queue, execution: Any) -> bool:
        request_id = (job.meta or {}).get(REQUEST_ID_META) or f"job-{job.id}"
        with bound_request_id(str(request_id)):
            result: bool = super().perform_job(job, queue, execution)
            return result

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker runs its maintenance only between two waits for a job, and RQ waits up to
        # worker_ttl - 15 s (405 s): wait no longer than the maintenance interval.
        return max(1, min(int(super().dequeue_timeout), int(self.maintenance_interval)))

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = int(self.job_monitoring_interval)
        grace = max(2 * interval, MIN_GRACE_S)
        if job.timeout and job.timeout > 0:
            return max(0, int(min(job.timeout - working_time, interval))) + grace
        return interval + grace
