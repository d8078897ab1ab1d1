"""``python -m workers [worker|cron|relay]``: an RQ worker on zhcg's queues, the cron loop, or one pass
of the job outbox relay (docs/operations.md "Workers")."""

from __future__ import annotations

import argparse
from datetime import timedelta

from core.jobs import RELAY_MIN_AGE, configure_jobs
from core.settings import get_settings
from workers.context import configure_logging
from workers.cron import relay_once, run_forever
from workers.preload import preload
from workers.queues import JOB_HEARTBEAT_S, MAINTENANCE_S, ZhcgWorker, queue_names, redis_connection


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description="zhcg background workers")
    parser.add_argument("mode", nargs="?", choices=["worker", "cron", "relay"], default="worker")
    parser.add_argument("--burst", action="store_true", help="worker: exit when the queues are empty")
    parser.add_argument(
        "--job-heartbeat",
        type=int,
        default=JOB_HEARTBEAT_S,
        metavar="S",
        help="worker: seconds between heartbeats of a running job; a job of a dead worker is retried "
        "about three heartbeats after its last one",
    )
    parser.add_argument(
        "--maintenance",
        type=int,
        default=MAINTENANCE_S,
        metavar="S",
        help="worker: seconds between registry clean-ups (which retry the jobs of dead workers)",
    )
    parser.add_argument(
        "--min-age",
        type=float,
        default=RELAY_MIN_AGE.total_seconds(),
        metavar="S",
        help="relay: send the outbox rows older than this",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    configure_jobs(settings)
    if args.mode == "cron":
        run_forever(settings)
        return
    if args.mode == "relay":
        relay_once(settings, min_age=timedelta(seconds=args.min_age))
        return
    preload()  # before the first fork: each job's work horse inherits the imports
    worker = ZhcgWorker(
        queue_names(settings),
        connection=redis_connection(settings),
        job_monitoring_interval=max(1, args.job_heartbeat),
        maintenance_interval=max(1, args.maintenance),
    )
    worker.work(burst=args.burst, with_scheduler=True)


if __name__ == "__main__":
    main()
