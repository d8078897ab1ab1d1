"""The access-token and subscribe-message client (wechatpy underneath) against the local fake WeChat
server over real HTTP, with the token shared through a real Redis."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator

import pytest
from redis import Redis

from core.wechat.api import STORAGE_PREFIX, Outcome, WechatApi, WechatCallError
from tests.fixtures.fake_wechat import FakeWechat, running_fake_wechat

TEMPLATE = "tmpl-progress"
KEYWORDS = ("character_string1", "phrase2", "thing3", "time4")
DATA = {
    "character_string1": "20261121A0001",
    "phrase2": "已立案",
    "thing3": "将尽快处置",
    "time4": "2026-11-21 10:00",
}


@pytest.fixture
def fake() -> Iterator[FakeWechat]:
    with running_fake_wechat() as server:
        server.add_template(TEMPLATE, KEYWORDS)
        yield server


@pytest.fixture
def redis(redis_url: str, fake: FakeWechat) -> Iterator[Redis]:
    connection = Redis.from_url(redis_url)
    yield connection
    for key in connection.scan_iter(f"{STORAGE_PREFIX}:{fake.state.app_id}*"):
        connection.delete(key)


def client(
    fake: FakeWechat, redis: Redis | None, *, timeout_s: float = 5.0, secret: str | None = None
) -> WechatApi:
    return WechatApi(
        api_base=fake.api_base,
        app_id=fake.state.app_id,
        app_secret=fake.state.app_secret if secret is None else secret,
        timeout_s=timeout_s,
        redis=redis,
    )


def user(fake: FakeWechat, consents: int = 1) -> str:
    _, who = fake.add_user()
    fake.grant(who.openid, TEMPLATE, consents)
    return who.openid


def send(api: WechatApi, openid: str, data: dict[str, str] | None = None) -> None:
    api.send_subscribe(
        openid=openid, template_id=TEMPLATE, page="pages/case/detail?no=1", data=data or DATA, state="formal"
    )


def test_sends_a_subscribe_message_with_a_stable_token(fake: FakeWechat, redis: Redis) -> None:
    openid = user(fake, consents=2)
    api = client(fake, redis)
    send(api, openid)
    send(api, openid)
    assert [message["touser"] for message in fake.sent] == [openid, openid]
    assert fake.sent[0]["data"] == DATA
    assert fake.sent[0]["miniprogram_state"] == "formal"
    assert fake.sent[0]["lang"] == "zh_CN"
    assert fake.token_fetches == 1


def test_processes_share_one_token_through_redis(fake: FakeWechat, redis: Redis) -> None:
    openid = user(fake, consents=2)
    send(client(fake, redis), openid)
    send(client(fake, redis), openid)  # another process: finds the token in Redis
    assert fake.token_fetches == 1
    ttl = redis.ttl(f"{STORAGE_PREFIX}:{fake.state.app_id}_access_token")
    assert 7200 - 300 - 5 <= ttl <= 7200 - 300


def test_concurrent_first_calls_fetch_the_token_once(fake: FakeWechat, redis: Redis) -> None:
    openid = user(fake, consents=8)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        try:
            barrier.wait()
            send(client(fake, redis), openid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(fake.sent) == 8
    assert fake.token_fetches == 1  # the SET NX lock: one fetch, seven waited for it


def test_without_redis_the_token_is_kept_in_memory(fake: FakeWechat) -> None:
    openid = user(fake, consents=2)
    api = client(fake, None)
    send(api, openid)
    send(api, openid)
    assert fake.token_fetches == 1


def test_an_expired_token_is_fetched_again_and_the_send_retried_once(fake: FakeWechat, redis: Redis) -> None:
    openid = user(fake)
    api = client(fake, redis)
    api.fetch_access_token()
    fake.expire_token()
    send(api, openid)
    assert len(fake.sent) == 1
    assert fake.token_fetches == 2
    assert fake.forced_refreshes == 0


def test_a_token_reset_elsewhere_is_force_refreshed(fake: FakeWechat, redis: Redis) -> None:
    """40001 while stable_token still answers the same token: only a forced refresh gives a new one."""
    openid = user(fake)
    api = client(fake, redis)
    api.fetch_access_token()
    fake.revoke_token()
    send(api, openid)
    assert len(fake.sent) == 1
    assert fake.forced_refreshes == 1


def test_a_token_error_is_retried_once_not_forever(fake: FakeWechat, redis: Redis) -> None:
    openid = user(fake)
    api = client(fake, redis)
    fake.inject_send(errcode=40001, times=5)
    with pytest.raises(WechatCallError) as caught:
        send(api, openid)
    assert caught.value.outcome is Outcome.RETRY
    assert fake.send_calls == 2
    assert fake.sent == []


@pytest.mark.parametrize(
    ("errcode", "outcome"),
    [
        (43101, Outcome.REFUSED),
        (40003, Outcome.REJECTED),
        (40037, Outcome.REJECTED),
        (47003, Outcome.REJECTED),
        (41030, Outcome.REJECTED),
        (-1, Outcome.RETRY),
        (45009, Outcome.RETRY),
    ],
)
def test_errcodes_map_to_what_they_mean_for_the_message(
    fake: FakeWechat, redis: Redis, errcode: int, outcome: Outcome
) -> None:
    fake.inject_send(errcode=errcode)
    with pytest.raises(WechatCallError) as caught:
        send(client(fake, redis), user(fake))
    assert (caught.value.outcome, caught.value.errcode) == (outcome, errcode)


def test_real_refusals_of_the_fake_come_back_as_such(fake: FakeWechat, redis: Redis) -> None:
    api = client(fake, redis)
    with pytest.raises(WechatCallError) as no_consent:
        send(api, user(fake, consents=0))
    assert no_consent.value.errcode == 43101
    with pytest.raises(WechatCallError) as too_long:
        send(api, user(fake), {**DATA, "thing3": "很" * 21})
    assert (too_long.value.errcode, too_long.value.outcome) == (47003, Outcome.REJECTED)


def test_http_5xx_is_retryable(fake: FakeWechat, redis: Redis) -> None:
    fake.inject_send(http_status=502)
    with pytest.raises(WechatCallError) as caught:
        send(client(fake, redis), user(fake))
    assert caught.value.outcome is Outcome.RETRY


def test_no_answer_in_time_is_unknown_because_it_may_have_been_delivered(
    fake: FakeWechat, redis: Redis
) -> None:
    openid = user(fake)
    api = client(fake, redis, timeout_s=0.3)
    api.fetch_access_token()
    fake.inject_send(delay_s=1.0)
    with pytest.raises(WechatCallError) as caught:
        send(api, openid)
    assert caught.value.outcome is Outcome.UNKNOWN
    assert len(fake.sent) == 1  # it was delivered: this is why UNKNOWN is never sent again


def test_an_unreachable_wechat_is_retryable(redis: Redis) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = WechatApi(
        api_base=f"http://127.0.0.1:{port}",
        app_id=f"wx{secrets.token_hex(8)}",
        app_secret="s",
        timeout_s=1,
        redis=None,
    )
    with pytest.raises(WechatCallError) as caught:
        api.send_subscribe(openid="o", template_id=TEMPLATE, page="p", data=DATA, state="formal")
    assert caught.value.outcome is Outcome.RETRY


def test_a_wrong_secret_is_a_permanent_error(fake: FakeWechat, redis: Redis) -> None:
    with pytest.raises(WechatCallError) as caught:
        send(client(fake, redis, secret="wrong"), user(fake))
    assert (caught.value.outcome, caught.value.errcode) == (Outcome.REJECTED, 40125)
