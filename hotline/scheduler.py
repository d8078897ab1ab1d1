"""The bridge's outbound scheduler: places the call-backs and follow-ups that are due.

Every ``scheduler_interval_s`` (only while logged in to AMI and ``outbound_enabled``):

1. every ``followup_scan_interval_s``, ``create_follow_ups`` for the hotline cases closed in the last
   ``followup_lookback_days``;
2. tasks left ``dialing`` longer than a try can last (a previous run stopped mid-call) are counted as
   failed tries (``recover_stale``);
3. up to ``max_concurrent_originates`` minus those under way are claimed (``claim_due``) and each is
   originated as its own asyncio task; its result is recorded (``record_result``).

Every database call runs on the bridge's single database thread (``DbRunner``): the event loop never
waits for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from core.calls import callbacks, followup
from core.calls.callbacks import DialResult, OutboundCall
from core.db import session_scope
from core.kit.clock import utcnow
from core.settings import AmiSettings
from hotline.ami import AmiConnection
from hotline.originate import answer_timeout, originate

log = logging.getLogger("zhcg.hotline.scheduler")

T = TypeVar("T")


class DbRunner:
    """Runs ``fn(session)`` in one transaction on the given executor (the bridge's database thread)."""

    def __init__(self, engine: Engine, executor: Executor) -> None:
        self.engine = engine
        self.executor = executor

    async def __call__(self, fn: Callable[[Session], T]) -> T:
        def unit() -> T:
            with session_scope(self.engine) as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self.executor, unit)


@dataclass
class SchedulerStatus:
    ticks: int = 0
    originated: int = 0
    answered: int = 0
    failed: int = 0
    follow_ups_created: int = 0
    stale_recovered: int = 0
    errors: int = 0


class OutboundScheduler:
    def __init__(
        self, ami: AmiSettings, db: DbRunner, connection: Callable[[], AmiConnection | None]
    ) -> None:
        self.ami = ami
        self.db = db
        self.connection = connection
        self.status = SchedulerStatus()
        self._dialing: set[asyncio.Task[None]] = set()
        self._last_scan: float | None = None
        self._dialing_ids: set[int] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due tasks now (instead of at the next tick)."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled; a failing tick is logged and the next one tries again."""
        try:
            while True:
                connection = self.connection()
                if connection is not None:
                    try:
                        await self.tick(connection)
                    except Exception:
                        self.status.errors += 1
                        log.exception("outbound scheduler tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.ami.scheduler_interval_s)
                self._wake.clear()
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Stop the tries under way (their tasks stay ``dialing`` and are recovered on the next start)."""
        for task in list(self._dialing):
            task.cancel()
        for task in list(self._dialing):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def tick(self, connection: AmiConnection) -> None:
        self.status.ticks += 1
        now = utcnow()
        loop = asyncio.get_running_loop()
        if self._last_scan is None or loop.time() - self._last_scan >= self.ami.followup_scan_interval_s:
            self._last_scan = loop.time()
            since = now - timedelta(days=self.ami.followup_lookback_days)
            delay = timedelta(seconds=self.ami.followup_delay_s)
            scan = await self.db(lambda s: followup.create_follow_ups(s, since=since, now=now, delay=delay))
            self.status.follow_ups_created += scan.created
            if scan.created or scan.without_number:
                log.info("follow-ups: %d created, %d without a number", scan.created, scan.without_number)
        older = now - timedelta(seconds=answer_timeout(self.ami))
        mine = set(self._dialing_ids)
        recovered = await self.db(
            lambda s: callbacks.recover_stale(s, older_than=older, now=now, ami=self.ami, exclude=mine)
        )
        if recovered:
            self.status.stale_recovered += recovered
            log.warning("%d outbound tries left dialing (a previous run) counted as failed", recovered)
        free = self.ami.max_concurrent_originates - len(self._dialing)
        if free <= 0:
            return
        due = await self.db(lambda s: callbacks.claim_due(s, now=now, limit=free, ami=self.ami))
        for call in due:
            self._dialing_ids.add(call.task_id)
            task = asyncio.create_task(self._dial(connection, call), name=f"originate-{call.task_id}")
            self._dialing.add(task)
            task.add_done_callback(self._dialing.discard)

    async def _dial(self, connection: AmiConnection, call: OutboundCall) -> None:
        try:
            self.status.originated += 1
            result = await originate(connection, call, self.ami)
            if result.success:
                self.status.answered += 1
            else:
                self.status.failed += 1
            await self._record(call, result)
        finally:
            self._dialing_ids.discard(call.task_id)
        self.wake()  # a slot is free

    async def _record(self, call: OutboundCall, result: DialResult) -> None:
        for attempt in range(5):
            try:
                await self.db(
                    lambda s: callbacks.record_result(
                        s, task_id=call.task_id, result=result, now=utcnow(), ami=self.ami
                    )
                )
                return
            except Exception:
                log.exception("recording the result of task %d failed (try %d)", call.task_id, attempt + 1)
                await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
        # Still dialing in the database: the next start counts it as a failed try (recover_stale).
