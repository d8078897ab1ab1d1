"""Telling the agents' consoles that a call reached them (the screen-pop).

- **Publishing** (the bridge): ``publish_after_commit(session, calls)`` publishes, once the batch's
  transaction has committed, ``{"call_id", "staff_id"}`` for every given call answered by a staff
  account, on the Redis channel ``<queue_prefix>:hotline:connected``. Without ``redis.url``
  nothing is published. A Redis failure is logged and never breaks the bridge (the consoles also
  re-read the database every ``SAFETY_POLL_S``).
- **Listening** (the console's event stream): ``listener(settings, staff_id)`` waits for a message
  about this agent (Redis) or simply for the next poll tick (``POLL_S``, without Redis); either way the
  stream then reads the calls from the database (``new_pops``), so a message is only a wake-up call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from core.models.calls import Call, CallDisposition, CallState
from core.settings import Settings, get_settings

log = logging.getLogger("zhcg.calls.notify")

POLL_S = 0.15  # the database poll without Redis (a pop within ~0.2 s of AgentConnect)
SAFETY_POLL_S = 15.0  # with Redis: re-read the database anyway (a message lost while Redis restarted)
REDIS_TIMEOUT_S = 1.0

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def channel_name(settings: Settings) -> str:
    return f"{settings.redis.queue_prefix}:hotline:connected"


def _client(url: str) -> Any:
    from redis import Redis

    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = Redis.from_url(
                    url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
                )
                _clients[url] = client
    return client


def publish(settings: Settings, pops: Collection[tuple[int, int]]) -> int:
    """Publish (call id, staff id) pairs now; the number published (0 without Redis or on an error)."""
    if not settings.redis.url or not pops:
        return 0
    from redis.exceptions import RedisError

    client = _client(settings.redis.url)
    channel = channel_name(settings)
    try:
        pipe = client.pipeline(transaction=False)
        for call_id, staff_id in pops:
            pipe.publish(channel, json.dumps({"call_id": call_id, "staff_id": staff_id}))
        pipe.execute()
    except RedisError as exc:
        log.warning("screen-pop not published (%s): consoles will see the call at their next poll", exc)
        return 0
    return len(pops)


def publish_after_commit(
    session: Session, calls: Iterable[Call], *, settings: Settings | None = None
) -> None:
    """Publish the given calls that reached an agent, once the session's transaction commits (also a
    call answered and ended within one batch: the stream pops recently answered calls too)."""
    pops = [
        (call.id, call.agent_staff_id)
        for call in calls
        if call.id is not None and call.agent_staff_id is not None and call.answered_at is not None
    ]
    if not pops:
        return
    settings = settings or get_settings()
    if not settings.redis.url:
        return

    def after_commit(_session: OrmSession) -> None:
        publish(settings, pops)

    sa.event.listen(session, "after_commit", after_commit, once=True)


# --- the console side ----------------------------------------------------------------------------


def new_pops(session: Session, *, staff_id: int, since: datetime, seen: Collection[int]) -> list[Call]:
    """This agent's calls to pop: connected now, or answered since ``since`` (a short call that ended
    between two polls), not handled yet (no disposition) and not delivered already (``seen``)."""
    statement = (
        select(Call)
        .where(
            col(Call.agent_staff_id) == staff_id,
            col(Call.answered_at).is_not(None),
            col(Call.disposition) == CallDisposition.NONE,
            sa.or_(col(Call.state) == CallState.CONNECTED, col(Call.answered_at) >= since),
        )
        .order_by(col(Call.answered_at), col(Call.id))
        .limit(20)
    )
    if seen:
        statement = statement.where(col(Call.id).not_in(sorted(seen)))
    return list(session.exec(statement).all())


class Listener(Protocol):
    interval_s: float

    async def wait(self, timeout: float) -> bool:
        """Until something may have arrived for this agent (True) or ``timeout`` passed (False)."""
        ...

    async def close(self) -> None: ...


class PollListener:
    """Without Redis: every tick may have something (the stream reads the database each time)."""

    interval_s = POLL_S

    async def wait(self, timeout: float) -> bool:
        await asyncio.sleep(min(timeout, POLL_S))
        return True

    async def close(self) -> None:
        return None


class RedisListener:
    """With Redis: wakes up on a message about this agent; the database is read only then (and every
    ``SAFETY_POLL_S`` by the stream)."""

    interval_s = SAFETY_POLL_S

    def __init__(self, client: Any, pubsub: Any, staff_id: int) -> None:
        self.client = client
        self.pubsub = pubsub
        self.staff_id = staff_id

    async def wait(self, timeout: float) -> bool:
        from redis.exceptions import RedisError

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            except RedisError as exc:
                log.warning("screen-pop subscription failed (%s): reading the database", exc)
                await asyncio.sleep(min(left, POLL_S))
                return True
            if message is None:
                continue
            try:
                data = json.loads(message["data"])
            except (ValueError, TypeError, KeyError):
                continue
            if isinstance(data, dict) and data.get("staff_id") == self.staff_id:
                return True
        return False

    async def close(self) -> None:
        try:
            await self.pubsub.aclose()
        finally:
            await self.client.aclose()


async def listener(settings: Settings, staff_id: int) -> Listener:
    """The listener for this agent's stream: Redis pub/sub when configured (and reachable), else polling."""
    if not settings.redis.url:
        return PollListener()
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(settings.redis.url, socket_connect_timeout=REDIS_TIMEOUT_S)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel_name(settings))
    except (RedisError, OSError) as exc:
        log.warning("screen-pop subscription unavailable (%s): polling the database", exc)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
        return PollListener()
    return RedisListener(client, pubsub, staff_id)
