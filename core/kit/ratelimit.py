"""Per-client request counting: a sliding-window counter kept in process memory or in Redis.

Domain-free: callers name the bucket (a group such as ``read`` and a client such as ``citizen:12``)
and its limit per window; this module counts and decides.

The window is the usual approximated sliding window: two fixed windows (the current and the previous
one, by wall-clock index) and the estimate ``previous × (share of the previous window still inside the
sliding window) + current``. A request is allowed while the estimate plus itself stays within the limit;
allowed requests are counted, refused ones are not, so a client that keeps hammering gets exactly its
limit through and a client that slows down gets through again.

- ``MemoryCounter``: one process (the embedded default, or several processes each with its own counts).
- ``RedisCounter``: shared by every API process; one round trip per request (a small Lua script that
  reads both windows, decides and counts). When Redis does not answer it **fails open**: the request
  is let through uncounted, a warning is logged at most once a minute, and Redis is left alone for a few
  seconds so that requests do not each wait for a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any, Protocol

log = logging.getLogger("zhcg.ratelimit")

Network = IPv4Network | IPv6Network
Clock = Callable[[], float]

# A client on IPv6 usually holds a whole /64: counting per address would let it rotate addresses.
IPV6_CLIENT_PREFIX = 64


@dataclass(frozen=True)
class Decision:
    """The answer for one request. ``retry_after_s`` is 0 when allowed; ``reset_s`` is when the
    current fixed window ends (``RateLimit-Reset``)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int
    reset_s: int


def window_position(now: float, window_s: int) -> tuple[int, float]:
    """The index of the fixed window containing ``now`` and the seconds elapsed in it."""
    index = math.floor(now / window_s)
    return index, now - index * window_s


def previous_weight(elapsed: float, window_s: int) -> float:
    """The share of the previous fixed window still inside the sliding window."""
    return max(0.0, 1.0 - elapsed / window_s)


def decide(*, limit: int, window_s: int, elapsed: float, current: int, previous: int) -> Decision:
    """Whether one more request fits, given the counts before it (pure; both backends use it)."""
    estimate = previous * previous_weight(elapsed, window_s) + current
    reset_s = max(1, math.ceil(window_s - elapsed))
    if estimate + 1 <= limit:
        remaining = max(0, math.floor(limit - estimate - 1))
        return Decision(True, limit, remaining, 0, reset_s)
    wait = seconds_until_room(
        limit=limit, window_s=window_s, elapsed=elapsed, current=current, previous=previous
    )
    return Decision(False, limit, 0, wait, reset_s)


def seconds_until_room(*, limit: int, window_s: int, elapsed: float, current: int, previous: int) -> int:
    """Whole seconds until one more request fits, if nothing else is counted meanwhile (at least 1)."""
    if current + 1 <= limit and previous > 0:
        # Still in this window: the previous window's weight must fall far enough.
        share = 1.0 - (limit - 1 - current) / previous
        wait = share * window_s - elapsed
    else:
        # Only in the next window, where this window's count becomes the weighted previous one.
        share = max(0.0, 1.0 - (limit - 1) / current) if current > 0 else 0.0
        wait = (window_s - elapsed) + share * window_s
    return max(1, math.ceil(wait - 1e-9))


class Counter(Protocol):
    async def hit(self, group: str, client: str, *, limit: int, window_s: int) -> Decision | None:
        """Count one request of ``client`` in ``group``; None when the count is unavailable (fail open)."""
        ...


class MemoryCounter:
    """Counts in this process. Entries of windows that ended are dropped when a new window starts; past
    ``max_keys`` buckets new clients are let through uncounted (logged), so memory stays bounded."""

    def __init__(self, *, clock: Clock = time.time, max_keys: int = 200_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # bucket → [window index, count in that window, count in the window before it]
        self._counts: dict[tuple[str, str, int], list[int]] = {}
        self._pruned_index: dict[int, int] = {}
        self._warned_at = -math.inf

    async def hit(self, group: str, client: str, *, limit: int, window_s: int) -> Decision | None:
        return self.hit_now(group, client, limit=limit, window_s=window_s)

    def hit_now(self, group: str, client: str, *, limit: int, window_s: int) -> Decision | None:
        now = self._clock()
        index, elapsed = window_position(now, window_s)
        key = (group, client, window_s)
        with self._lock:
            self._prune(index, window_s)
            entry = self._counts.get(key)
            if entry is None:
                if len(self._counts) >= self._max_keys:
                    self._warn_full(now)
                    return None
                entry = self._counts[key] = [index, 0, 0]
            elif entry[0] != index:
                # One window on: the current count becomes the previous one; more: both are stale.
                entry[2] = entry[1] if entry[0] == index - 1 else 0
                entry[0], entry[1] = index, 0
            decision = decide(
                limit=limit, window_s=window_s, elapsed=elapsed, current=entry[1], previous=entry[2]
            )
            if decision.allowed:
                entry[1] += 1
            return decision

    def _prune(self, index: int, window_s: int) -> None:
        if self._pruned_index.get(window_s) == index:
            return
        self._pruned_index[window_s] = index
        stale = [key for key, entry in self._counts.items() if key[2] == window_s and entry[0] < index - 1]
        for key in stale:
            del self._counts[key]

    def _warn_full(self, now: float) -> None:
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning(
                "rate limits: %d clients counted in this process; new ones pass uncounted", self._max_keys
            )

    def __len__(self) -> int:
        return len(self._counts)


# KEYS[1]: this window's count, KEYS[2]: the previous window's; ARGV: limit, previous weight, TTL (s).
# Returns {allowed (0/1), count before this request, previous count}.
SLIDING_WINDOW_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
if previous * tonumber(ARGV[2]) + current + 1 > limit then
  return {0, current, previous}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, current, previous}
"""


class RedisCounter:
    """Counts in Redis, shared by every process using the same ``prefix``. Fails open (see module doc).

    The asyncio client belongs to one event loop; a new loop (a test client, a reloaded server) gets a
    new client."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        timeout_s: float = 0.5,
        pause_s: float = 5.0,
        warn_every_s: float = 60.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._clock = clock
        self._monotonic = monotonic
        self._timeout_s = timeout_s
        self._pause_s = pause_s
        self._warn_every_s = warn_every_s
        self._paused_until = -math.inf
        self._warned_at = -math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script: Any = None

    def key(self, group: str, client: str, window_s: int, index: int) -> str:
        # The braces keep both windows of a bucket in one Redis Cluster slot.
        return f"{self.prefix}:{{{group}:{window_s}:{client}}}:{index}"

    def _client_script(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._script is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            client = Redis.from_url(
                self.url,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
                retry=Retry(NoBackoff(), 0),  # a failure is answered at once: we fail open, not wait
            )
            self._script = client.register_script(SLIDING_WINDOW_LUA)
            self._loop = loop
        return self._script

    async def hit(self, group: str, client: str, *, limit: int, window_s: int) -> Decision | None:
        from redis.exceptions import RedisError

        if self._monotonic() < self._paused_until:
            return None
        now = self._clock()
        index, elapsed = window_position(now, window_s)
        weight = previous_weight(elapsed, window_s)
        keys = [self.key(group, client, window_s, index), self.key(group, client, window_s, index - 1)]
        try:
            script = self._client_script()
            allowed, current, previous = await script(keys=keys, args=[limit, repr(weight), 2 * window_s])
        except (TimeoutError, RedisError, OSError) as exc:
            self._failed(exc)
            return None
        decision = decide(
            limit=limit, window_s=window_s, elapsed=elapsed, current=int(current), previous=int(previous)
        )
        if bool(int(allowed)) != decision.allowed:  # float rounding at the edge: Redis counted, so it decides
            decision = Decision(bool(int(allowed)), limit, 0, 0 if int(allowed) else 1, decision.reset_s)
        return decision

    def _failed(self, exc: BaseException) -> None:
        now = self._monotonic()
        self._paused_until = now + self._pause_s
        self._script = None  # reconnect from scratch next time
        if now - self._warned_at >= self._warn_every_s:
            self._warned_at = now
            log.warning(
                "rate limits: Redis not reachable (%s: %s); requests pass without limits until it answers",
                type(exc).__name__,
                exc,
            )


# --- who is the client ------------------------------------------------------------------------------


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks (raises ValueError naming a bad entry)."""
    return tuple(ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip())


def _address(text: str) -> Any:
    """An IP address from a header item (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``, ``::1``), or None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Any, trusted: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The address a request is counted under: the socket peer, or — only when the peer is one of our
    trusted proxies — the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (the
    entries to its left were written by the client and prove nothing)."""
    if not peer:
        return "unknown"
    peer_address = _address(peer)
    if not forwarded_for or not trusted or not _trusted(peer_address, trusted):
        return client_bucket(peer)
    for item in reversed(forwarded_for.split(",")):
        address = _address(item)
        if address is None:
            break  # garbage where a proxy should have written an address: trust nothing beyond
        if not _trusted(address, trusted):
            return client_bucket(str(address))
    return client_bucket(peer)


def client_bucket(address: str) -> str:
    """``ip:<address>`` for IPv4, ``ip:<network>/64`` for IPv6; other peers (a Unix socket, a test
    client) as they are."""
    parsed = _address(address)
    if parsed is None:
        return f"ip:{address}"
    if parsed.version == 6:
        return f"ip:{ip_network(f'{parsed}/{IPV6_CLIENT_PREFIX}', strict=False)}"
    return f"ip:{parsed}"


class KnownKeys:
    """API keys (by hash) that recently proved valid, per kind, so they may name their own bucket.

    An unverified key must not: a client could send a new random key with every request to escape its
    address's limit. The endpoint that checks the key tells us (a 2xx answer) without a query of ours;
    a refusal (401/403) forgets it. Entries expire after ``ttl_s``; at most ``max_keys`` are kept."""

    def __init__(
        self, *, ttl_s: float = 600.0, max_keys: int = 10_000, monotonic: Clock = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._max_keys = max_keys
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def known(self, kind: str, key_hash: str) -> bool:
        with self._lock:
            seen = self._seen.get((kind, key_hash))
            if seen is None:
                return False
            if self._monotonic() - seen > self._ttl_s:
                del self._seen[(kind, key_hash)]
                return False
            return True

    def learn(self, kind: str, key_hash: str) -> None:
        with self._lock:
            self._seen[(kind, key_hash)] = self._monotonic()
            self._seen.move_to_end((kind, key_hash))
            while len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)

    def forget(self, kind: str, key_hash: str) -> None:
        with self._lock:
            self._seen.pop((kind, key_hash), None)
