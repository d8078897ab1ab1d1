"""core.kit.ratelimit: the sliding-window decision, the memory and Redis counters (with injected clocks),
failing open when Redis does not answer, who the client is behind proxies, and keys that proved valid."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from ipaddress import ip_network

import pytest
from redis import Redis

from core.kit.ratelimit import (
    Decision,
    KnownKeys,
    MemoryCounter,
    RedisCounter,
    client_address,
    client_bucket,
    decide,
    parse_networks,
    seconds_until_room,
)

WINDOW = 60


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hit(counter: MemoryCounter, client: str, limit: int = 4, group: str = "read") -> Decision:
    decision = counter.hit_now(group, client, limit=limit, window_s=WINDOW)
    assert decision is not None
    return decision


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout=10))  # type: ignore[arg-type]


# --- the decision -----------------------------------------------------------------------------------


def test_a_fresh_bucket_allows_and_counts_down() -> None:
    assert decide(limit=3, window_s=WINDOW, elapsed=10, current=0, previous=0) == Decision(True, 3, 2, 0, 50)
    assert decide(limit=3, window_s=WINDOW, elapsed=10, current=2, previous=0).remaining == 0
    refused = decide(limit=3, window_s=WINDOW, elapsed=10, current=3, previous=0)
    assert not refused.allowed
    assert refused.retry_after_s == 50 + 20  # the next window, once this one weighs at most 2/3


def test_the_previous_window_weighs_by_its_share_still_inside_the_sliding_window() -> None:
    # 45 s into the window: a quarter of the previous window is still inside; 8 × 0.25 + 1 = 3 < 4.
    assert decide(limit=4, window_s=WINDOW, elapsed=45, current=1, previous=8).allowed
    # 15 s in: 8 × 0.75 + 1 = 7 → refused until 8 × (1 − t/60) + 1 + 1 ≤ 4, i.e. until 45 s in.
    refused = decide(limit=4, window_s=WINDOW, elapsed=15, current=1, previous=8)
    assert not refused.allowed
    assert refused.retry_after_s == 30


@pytest.mark.parametrize(
    ("limit", "elapsed", "current", "previous"),
    [(4, 15, 1, 8), (10, 0.5, 10, 0), (10, 59.5, 10, 30), (1, 30, 1, 1), (5, 1, 0, 100), (3, 59, 2, 50)],
)
def test_retry_after_is_exactly_when_one_more_request_fits(
    limit: int, elapsed: float, current: int, previous: int
) -> None:
    """Waiting the advertised seconds is enough, and a second less is not (when nothing else is counted)."""
    assert not decide(
        limit=limit, window_s=WINDOW, elapsed=elapsed, current=current, previous=previous
    ).allowed
    wait = seconds_until_room(
        limit=limit, window_s=WINDOW, elapsed=elapsed, current=current, previous=previous
    )

    def allowed_after(seconds: float) -> bool:
        at = elapsed + seconds
        if at < WINDOW:
            return decide(
                limit=limit, window_s=WINDOW, elapsed=at, current=current, previous=previous
            ).allowed
        if at < 2 * WINDOW:  # the next window: this window's count is the previous one
            return decide(
                limit=limit, window_s=WINDOW, elapsed=at - WINDOW, current=0, previous=current
            ).allowed
        return True

    assert allowed_after(wait)
    assert wait == 1 or not allowed_after(wait - 1)


# --- the memory counter -----------------------------------------------------------------------------


def test_memory_counter_limits_each_client_and_group_on_its_own() -> None:
    clock = FakeClock(1_000_020.0)
    counter = MemoryCounter(clock=clock)
    results = [hit(counter, "ip:198.51.100.1", 3, "write") for _ in range(4)]
    assert [d.allowed for d in results] == [True, True, True, False]
    assert [d.remaining for d in results] == [2, 1, 0, 0]
    assert hit(counter, "ip:198.51.100.2", 3, "write").allowed  # another client
    assert hit(counter, "ip:198.51.100.1", 3, "read").allowed  # another group


def test_memory_counter_slides_into_the_next_window_and_forgets_old_ones() -> None:
    clock = FakeClock(60 * 1000 + 30)  # half-way through a window
    counter = MemoryCounter(clock=clock)
    for _ in range(4):
        assert hit(counter, "c").allowed
    assert not hit(counter, "c").allowed
    clock.now += 30  # the next window starts: 4 × 1.0 + 0 → still full
    assert not hit(counter, "c").allowed
    clock.now += 15  # a quarter in: 4 × 0.75 + 1 ≤ 4
    assert hit(counter, "c").allowed
    assert not hit(counter, "c").allowed
    counter.hit_now("read", "other", limit=4, window_s=WINDOW)
    assert len(counter) == 2
    clock.now += 180  # windows long gone: stale buckets are dropped when a new window starts
    assert hit(counter, "third").allowed
    assert len(counter) == 1
    assert hit(counter, "c").remaining == 3


def test_memory_counter_lets_new_clients_through_uncounted_when_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counter = MemoryCounter(clock=FakeClock(1_000_000.0), max_keys=2)
    assert counter.hit_now("read", "a", limit=1, window_s=WINDOW) is not None
    assert counter.hit_now("read", "b", limit=1, window_s=WINDOW) is not None
    with caplog.at_level(logging.WARNING, logger="zhcg.ratelimit"):
        assert counter.hit_now("read", "c", limit=1, window_s=WINDOW) is None
        assert counter.hit_now("read", "d", limit=1, window_s=WINDOW) is None
    assert len([r for r in caplog.records if "uncounted" in r.getMessage()]) == 1
    assert not hit(counter, "a", limit=1).allowed  # the counted ones still count


# --- the Redis counter ------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_counter_is_shared_and_expires_its_keys(redis_url: str) -> None:
    prefix = f"zhcgtest{secrets.token_hex(4)}:ratelimit"
    clock = FakeClock(60 * 2000 + 10)
    first = RedisCounter(redis_url, prefix=prefix, clock=clock)
    second = RedisCounter(redis_url, prefix=prefix, clock=clock)  # another API process

    async def scenario() -> list[Decision | None]:
        decisions = [await first.hit("write", "citizen:7", limit=3, window_s=WINDOW) for _ in range(2)]
        decisions.append(await second.hit("write", "citizen:7", limit=3, window_s=WINDOW))
        decisions.append(await first.hit("write", "citizen:7", limit=3, window_s=WINDOW))
        decisions.append(await second.hit("write", "citizen:8", limit=3, window_s=WINDOW))
        return decisions

    decisions = run(scenario())
    assert isinstance(decisions, list)
    assert [d.allowed if d else None for d in decisions] == [True, True, True, False, True]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0, 2]
    refused = decisions[3]
    assert refused is not None
    assert refused.retry_after_s == 50 + 20
    connection = Redis.from_url(redis_url)
    try:
        key = first.key("write", "citizen:7", WINDOW, 2000)
        assert connection.get(key) == b"3"  # the refused request is not counted
        assert 0 < connection.ttl(key) <= 2 * WINDOW
    finally:
        connection.delete(*connection.keys(f"{prefix}:*"))
        connection.close()


@pytest.mark.redis
def test_redis_counter_slides_like_the_memory_counter(redis_url: str) -> None:
    prefix = f"zhcgtest{secrets.token_hex(4)}:ratelimit"
    clock = FakeClock(60 * 3000 + 30)
    redis_counter = RedisCounter(redis_url, prefix=prefix, clock=clock)
    memory = MemoryCounter(clock=clock)
    steps = [0, 0, 0, 0, 0, 30, 15, 0, 20, 0, 0, 60, 0]

    async def scenario() -> list[tuple[Decision | None, Decision | None]]:
        pairs = []
        for step in steps:
            clock.now += step
            pairs.append(
                (
                    await redis_counter.hit("read", "ip:192.0.2.1", limit=4, window_s=WINDOW),
                    memory.hit_now("read", "ip:192.0.2.1", limit=4, window_s=WINDOW),
                )
            )
        return pairs

    try:
        pairs = run(scenario())
        assert isinstance(pairs, list)
        for in_redis, in_memory in pairs:
            assert in_redis == in_memory
    finally:
        connection = Redis.from_url(redis_url)
        keys = connection.keys(f"{prefix}:*")
        if keys:
            connection.delete(*keys)
        connection.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_counter_fails_open_pauses_and_warns_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    monotonic = FakeClock(100.0)
    counter = RedisCounter(
        f"redis://127.0.0.1:{_closed_port()}/0", prefix="zhcgtest:ratelimit", monotonic=monotonic, pause_s=5
    )

    async def hits(n: int) -> list[Decision | None]:
        return [await counter.hit("write", "c", limit=1, window_s=WINDOW) for _ in range(n)]

    with caplog.at_level(logging.WARNING, logger="zhcg.ratelimit"):
        assert run(hits(3)) == [None, None, None]  # let through; the last two without trying Redis
        monotonic.now += 6  # the pause is over: tried again, failed again, not logged again
        assert run(hits(1)) == [None]
        monotonic.now += 60
        assert run(hits(1)) == [None]
    warnings = [r for r in caplog.records if "Redis not reachable" in r.getMessage()]
    assert len(warnings) == 2


# --- who the client is ------------------------------------------------------------------------------


PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    spoofed = "203.0.113.9, 198.51.100.4"
    assert client_address("198.51.100.4", spoofed, PROXIES) == "ip:198.51.100.4"  # direct: peer
    assert client_address("198.51.100.4", spoofed, ()) == "ip:198.51.100.4"
    # Through our proxy: the right-most address the proxy saw; what the client wrote left of it is ignored.
    assert client_address("127.0.0.1", spoofed, PROXIES) == "ip:198.51.100.4"
    assert client_address("127.0.0.1", "198.51.100.4, 10.1.2.3", PROXIES) == "ip:198.51.100.4"
    assert client_address("127.0.0.1", "198.51.100.4:5123", PROXIES) == "ip:198.51.100.4"
    assert client_address("127.0.0.1", "not-an-address", PROXIES) == "ip:127.0.0.1"
    assert client_address("127.0.0.1", "", PROXIES) == "ip:127.0.0.1"
    assert client_address(None, spoofed, PROXIES) == "unknown"


def test_ipv6_clients_are_counted_per_64_and_odd_peers_as_they_are() -> None:
    assert (
        client_bucket("2001:db8:1:2:aaaa::1")
        == client_bucket("2001:db8:1:2:bbbb::9")
        == "ip:2001:db8:1:2::/64"
    )
    assert client_bucket("::ffff:192.0.2.7") == "ip:192.0.2.7"
    assert client_bucket("testclient") == "ip:testclient"
    assert client_address("[2001:db8::1]:443", None, ()) == "ip:2001:db8::/64"
    assert parse_networks("") == ()
    assert parse_networks("::1, 10.0.0.0/8") == (ip_network("::1"), ip_network("10.0.0.0/8"))


def test_known_keys_expire_are_forgotten_and_bounded() -> None:
    monotonic = FakeClock(0.0)
    keys = KnownKeys(ttl_s=600, max_keys=2, monotonic=monotonic)
    assert not keys.known("open311", "a")
    keys.learn("open311", "a")
    assert keys.known("open311", "a")
    assert not keys.known("operator", "a")  # per kind
    keys.forget("open311", "a")
    assert not keys.known("open311", "a")
    keys.learn("open311", "a")
    monotonic.now = 601
    assert not keys.known("open311", "a")
    keys.learn("open311", "b")
    keys.learn("open311", "c")
    keys.learn("open311", "d")  # the oldest goes
    assert not keys.known("open311", "b")
    assert keys.known("open311", "c")
    assert keys.known("open311", "d")
