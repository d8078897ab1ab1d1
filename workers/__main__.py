"""``python -m workers [worker|cron] [--burst]``: an RQ worker on zhcg's queues, or the cron loop."""

from __future__ import annotations

import argparse

from rq import Worker

from core.jobs import configure_jobs
from core.settings import get_settings
from workers.context import configure_logging
from workers.cron import run_forever
from workers.queues import queue_names, redis_connection


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description="zhcg background workers")
    parser.add_argument("mode", nargs="?", choices=["worker", "cron"], default="worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    configure_jobs(settings)
    if args.mode == "cron":
        run_forever(settings)
        return
    worker = Worker(queue_names(settings), connection=redis_connection(settings))
    worker.work(burst=args.burst, with_scheduler=True)


if __name__ == "__main__":
    main()
