"""The hotline bridge: Asterisk Manager Interface events → calls in the database.

    Bridge(settings).run()      # until stop(); ``python -m hotline`` runs it

- **Connection**: one AMI connection at a time (``hotline.ami``); a refused login is logged as an error
  and retried; every failure (cannot connect, refused, dropped, half-open) reconnects with exponential
  back-off and jitter between ``reconnect_min_s`` and ``reconnect_max_s``.
- **Watchdog**: Action Ping every ``ping_interval_s``; no Pong within ``ping_timeout_s`` → the socket is
  closed and replaced (``hotline.watchdog``).
- **Resync**: after every login, CoreShowChannels and QueueStatus give the live calls; the snapshot goes
  through the same queue as the events, so calls that started during a drop are created and calls that
  ended during it are ended with the best known time.
- **The event loop never waits for the database**: events are put on an asyncio queue; one consumer
  takes what has accumulated (up to ``max_batch``) and applies it in one transaction on a single
  database thread (``run_in_executor``), in order. A database outage is retried with back-off without
  losing the batch; an item that fails on its own (a bug) is logged and skipped so the line keeps working.
- **Outbound** (``outbound_enabled``): the scheduler (``hotline.scheduler``) originates the due call-backs
  and follow-ups over the current connection, at most ``max_concurrent_originates`` at a time.
- **FastAGI** (``agi_enabled``): the ``followup`` and ``case_status`` scripts (``hotline.agi``) on
  ``agi_host:agi_port``. Both use the same database thread as the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from core.calls.events import HANDLED_EVENTS, AmiEvent, Snapshot, build_snapshot, linkedid_of
from core.calls.service import BatchItem, BatchResult, apply_batch
from core.db import get_engine, session_scope
from core.kit.clock import utcnow
from core.settings import AmiSettings, Settings
from hotline.agi import HotlineAgi
from hotline.ami import AmiConnection, AmiError, ConnectionClosed, LoginRefused
from hotline.scheduler import DbRunner, OutboundScheduler
from hotline.watchdog import PingWatchdog, StaleConnection

log = logging.getLogger("zhcg.hotline")

LIST_TIMEOUT_S = 60.0  # a resync list on a busy server; a silent server is caught by the watchdog first
DB_RETRY_MAX_S = 30.0


@dataclass
class BridgeStatus:
    """Counters of what the bridge went through (logged, and read by the tests and the benchmark)."""

    connected: bool = False
    connects: int = 0
    logins: int = 0
    login_failures: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    stale_connections: int = 0
    resyncs: int = 0
    resync_failures: int = 0
    events_received: int = 0
    events_applied: int = 0
    batches: int = 0
    db_failures: int = 0
    items_skipped: int = 0
    last_error: str = ""
    last_resync_at: datetime | None = None


def backoff_delay(attempt: int, settings: AmiSettings) -> float:
    """Exponential back-off with jitter: attempt 0 → about ``reconnect_min_s``, capped at the max."""
    ceiling = min(settings.reconnect_max_s, settings.reconnect_min_s * 2 ** min(attempt, 30))
    return random.uniform(max(settings.reconnect_min_s, ceiling / 2), ceiling)


class Bridge:
    def __init__(self, settings: Settings, *, engine: Engine | None = None, max_batch: int = 1000) -> None:
        self.settings = settings
        self.ami = settings.ami
        self.engine = engine or get_engine(settings)
        self.max_batch = max_batch
        self.status = BridgeStatus()
        self.watchdog = PingWatchdog(interval_s=self.ami.ping_interval_s, timeout_s=self.ami.ping_timeout_s)
        self._lines = dict(self.ami.lines)
        self._queue: asyncio.Queue[BatchItem] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotline-db")
        self._seen: set[str] | None = None  # calls with events since the login, while a resync runs
        self._last_heard: datetime | None = None
        self._lost_at: datetime | None = None
        self._logged_in = asyncio.Event()
        self._connection: AmiConnection | None = None  # while logged in: the scheduler originates on it
        self.db = DbRunner(self.engine, self._executor)
        self.scheduler = OutboundScheduler(self.ami, self.db, lambda: self._connection)
        self.agi: HotlineAgi | None = None
        self.agi_port: int | None = None  # the port the FastAGI server listens on (agi_port 0: chosen)

    # --- lifecycle -------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Connect, reconnect and apply events until ``stop()``; then apply what is queued and return."""
        consumer = asyncio.create_task(self._consume(), name="hotline-consumer")
        helpers: list[asyncio.Task[None]] = []
        agi_server: asyncio.Server | None = None
        if self.ami.outbound_enabled:
            helpers.append(asyncio.create_task(self.scheduler.run(), name="hotline-scheduler"))
        attempt = 0
        try:
            if self.ami.agi_enabled:
                self.agi = HotlineAgi(self.ami, self.db)
                agi_server = await self.agi.serve(self.ami.agi_host, self.ami.agi_port)
                self.agi_port = int(agi_server.sockets[0].getsockname()[1])
                log.info("FastAGI listening on %s:%s", self.ami.agi_host, self.agi_port)
            while not self._stopping.is_set():
                logged_in = False
                try:
                    logged_in = await self._session()
                except LoginRefused as exc:
                    self.status.login_failures += 1
                    self.status.last_error = f"login refused: {exc}"
                    log.error(
                        "AMI login refused for user %r at %s:%s: %s (check ZHCG_AMI__USERNAME / "
                        "ZHCG_AMI__SECRET and manager.conf)",
                        self.ami.username,
                        self.ami.host,
                        self.ami.port,
                        exc,
                    )
                except (OSError, TimeoutError) as exc:
                    self.status.connect_failures += 1
                    self.status.last_error = f"cannot connect: {exc or type(exc).__name__}"
                    log.warning(
                        "AMI at %s:%s unreachable: %s", self.ami.host, self.ami.port, self.status.last_error
                    )
                attempt = 0 if logged_in else attempt + 1
                if self._stopping.is_set():
                    break
                delay = backoff_delay(attempt, self.ami)
                log.info("reconnecting to AMI in %.2f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            if agi_server is not None:
                agi_server.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(agi_server.wait_closed(), 5)
            await self._drain(consumer)

    async def wait_logged_in(self) -> None:
        await self._logged_in.wait()

    async def drained(self) -> None:
        """Until every queued event and snapshot has been applied (tests and the benchmark)."""
        await self._queue.join()

    async def _drain(self, consumer: asyncio.Task[None]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=10)
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        self._executor.shutdown(wait=True)

    # --- one connection --------------------------------------------------------------------------

    async def _session(self) -> bool:
        """One connection, from connect to its end. True when the login succeeded."""
        loop = asyncio.get_running_loop()
        connection = AmiConnection(host=self.ami.host, port=self.ami.port, on_event=self._on_event, loop=loop)
        timeout = self.ami.ping_timeout_s
        await connection.open(timeout)
        self.status.connects += 1
        tasks: list[asyncio.Task[Any]] = []
        logged_in = False
        try:
            try:
                await connection.login(self.ami.username, self.ami.secret.get_secret_value(), timeout)
            except ConnectionClosed as exc:
                raise ConnectionResetError("connection closed during login") from exc
            logged_in = True
            self._seen = set()
            self.status.logins += 1
            self.status.connected = True
            self.status.last_error = ""
            self._logged_in.set()
            self._connection = connection
            self.scheduler.wake()
            log.info("logged in to AMI at %s:%s as %r", self.ami.host, self.ami.port, self.ami.username)
            tasks = [
                asyncio.create_task(
                    self.watchdog.run(connection.ping_once, self._heard), name="hotline-watchdog"
                ),
                asyncio.create_task(self._resync(connection), name="hotline-resync"),
            ]
            stopping = asyncio.create_task(self._stopping.wait())
            tasks.append(stopping)
            waiting: set[asyncio.Future[Any]] = {connection.lost, *tasks}
            while True:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if connection.lost in done:
                    self.status.disconnects += 1
                    self.status.last_error = "connection lost"
                    log.warning("AMI connection lost")
                    break
                if stopping in done:
                    break
                task = done.pop()
                waiting.discard(task)
                error = task.exception()
                if isinstance(error, StaleConnection):
                    self.status.stale_connections += 1
                    self.status.last_error = str(error)
                    log.warning("AMI connection half-open (%s): reconnecting", error)
                    break
                if error is not None:  # the resync failed: reconnect and try again
                    self.status.resync_failures += 1
                    self.status.last_error = f"resync failed: {error}"
                    log.warning("AMI resync failed: %s; reconnecting", error)
                    break
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._connection = None
            connection.abort()
            self.status.connected = False
            self._logged_in.clear()
            self._seen = None
            if logged_in:
                self._lost_at = self._last_heard
        return logged_in

    def _heard(self) -> None:
        self._last_heard = utcnow()

    def _on_event(self, _manager: object, message: Any) -> None:
        """panoramisk's dispatch (on the event loop): queue the events the reducer reads."""
        now = utcnow()
        self._last_heard = now
        name = message.event
        if name not in HANDLED_EVENTS:
            return
        event = AmiEvent.of(message, now)
        self.status.events_received += 1
        if self._seen is not None:
            linkedid = linkedid_of(event)
            if linkedid:
                self._seen.add(linkedid)
        self._queue.put_nowait(event)

    async def _resync(self, connection: AmiConnection) -> None:
        """Live calls and queues after a login, queued behind the events received so far."""
        taken_at = utcnow()
        try:
            channels = await connection.list_action("CoreShowChannels", LIST_TIMEOUT_S)
            entries = [
                entry
                for entry in await connection.list_action("QueueStatus", LIST_TIMEOUT_S)
                if entry.get("event") == "QueueEntry"
            ]
        except (AmiError, ConnectionClosed) as exc:
            raise AmiError(str(exc)) from exc
        seen = self._seen or set()
        snapshot = build_snapshot(channels, entries, taken_at=taken_at, seen=seen, lost_at=self._lost_at)
        self._seen = None
        self.status.resyncs += 1
        self.status.last_resync_at = taken_at
        log.info("AMI resync: %d live calls, %d waiting in queues", len(snapshot.calls), len(entries))
        self._queue.put_nowait(snapshot)

    # --- the database side ---------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._apply(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _apply(self, batch: list[BatchItem]) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                result = await loop.run_in_executor(self._executor, self._apply_sync, batch)
            except (OperationalError, DBAPIError) as exc:
                if not _is_outage(exc):
                    break
                self.status.db_failures += 1
                delay = min(DB_RETRY_MAX_S, 0.1 * 2**attempt)
                attempt += 1
                log.warning(
                    "database unavailable (%s); retrying %d items in %.1f s",
                    type(exc).__name__,
                    len(batch),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except Exception:
                log.exception("applying a batch of %d items failed; applying them one by one", len(batch))
                break
            self._count(result)
            return
        for item in batch:  # isolate the item that fails
            try:
                result = await loop.run_in_executor(self._executor, self._apply_sync, [item])
            except Exception:
                self.status.items_skipped += 1
                log.exception("skipped %s", _describe(item))
                continue
            self._count(result)

    def _count(self, result: BatchResult) -> None:
        self.status.batches += 1
        self.status.events_applied += result.events
        if result.callbacks_created or result.callbacks_cancelled:
            log.info(
                "call-backs: %d created, %d cancelled", result.callbacks_created, result.callbacks_cancelled
            )

    def _apply_sync(self, batch: list[BatchItem]) -> BatchResult:
        with session_scope(self.engine) as session:
            return apply_batch(session, batch, lines=self._lines)


def _is_outage(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)


def _describe(item: BatchItem) -> str:
    if isinstance(item, Snapshot):
        return f"resync snapshot of {len(item.calls)} calls"
    return f"event {item.name} of call {linkedid_of(item)}"
