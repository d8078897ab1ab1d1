"""WeChat server API calls that need an access token (subscribe messages), on wechatpy.

wechatpy 1.8 is used for what it does well (the request plumbing, JSON bodies with Chinese text, its
error classes and its token storages) and corrected where it does not fit us (pinned in pyproject):

- The API base is a setting (``ZHCG_WECHAT__API_BASE``), so tests talk to a local fake over real HTTP.
- The token comes from ``POST cgi-bin/stable_token``: repeat calls answer the same token, so several API
  and worker processes cannot invalidate each other's token as ``cgi-bin/token`` would.
- The token is shared through Redis (wechatpy's ``RedisStorage``; in-process memory without Redis) with a
  TTL of ``expires_in − 300`` s, and fetched under a ``SET NX`` lock so that a fleet of workers starting
  together asks WeChat once.
- wechatpy's own ``auto_retry`` refetches and retries on 40001/40014/42001 without a limit; here it is
  off, and an invalid-token answer refetches once and retries once.

Every failure is a ``WechatCallError`` whose ``outcome`` tells the caller what the failure means for the
message: ``refused`` (43101, no consent: do not retry), ``rejected`` (a permanent error of data or
configuration), ``retry`` (nothing was delivered: WeChat busy or unreachable) or ``unknown`` (the request
may have reached WeChat: never send it again).
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum
from typing import Any

import requests
from redis import Redis
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from core.settings import Settings

log = logging.getLogger("zhcg.wechat")

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, expired token
REFUSED = 43101  # the user refused, or the one-time consent is used up
RETRYABLE = frozenset({-1, 45009, 45011})  # system busy, API frequency limits
EARLY_REFRESH_S = 300
LOCK_TTL_S = 10
WAIT_FOR_PEER_S = 5.0
POLL_S = 0.05
STORAGE_PREFIX = "zhcg:wechat"


class Outcome(StrEnum):
    REFUSED = "refused"
    REJECTED = "rejected"
    RETRY = "retry"
    UNKNOWN = "unknown"


class WechatCallError(Exception):
    def __init__(self, outcome: Outcome, errcode: int | None, errmsg: str) -> None:
        super().__init__(f"wechat {outcome.value}: {errcode} {errmsg}".strip())
        self.outcome = outcome
        self.errcode = errcode
        self.errmsg = errmsg


def _outcome_of(errcode: int) -> Outcome:
    if errcode == REFUSED:
        return Outcome.REFUSED
    if errcode in RETRYABLE or errcode in TOKEN_ERRORS:
        return Outcome.RETRY
    return Outcome.REJECTED


def _transport_error(exc: requests.RequestException) -> WechatCallError:
    """A request that never left (no connection) can be retried; any other may have been delivered."""
    name = type(exc).__name__
    refused = isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc)
    if isinstance(exc, requests.ConnectTimeout) or refused:
        return WechatCallError(Outcome.RETRY, None, f"not connected ({name})")
    return WechatCallError(Outcome.UNKNOWN, None, f"no answer ({name})")


def _http_error(exc: WeChatClientException) -> WechatCallError:
    """wechatpy raises ``WeChatClientException`` with no errcode for an HTTP error status."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and status >= 500:
        return WechatCallError(Outcome.RETRY, None, f"http {status}")
    return WechatCallError(Outcome.REJECTED, None, f"http {status}")


class _TokenLock:
    """Who may ask WeChat for a token right now: one holder across processes (Redis) or threads."""

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, redis: Redis | None, key: str) -> None:
        self._redis = redis
        self._key = key
        self._local = threading.Lock()
        self._owner = ""

    def acquire(self) -> bool:
        if self._redis is None:
            return self._local.acquire(blocking=False)
        owner = f"{time.monotonic_ns()}-{threading.get_ident()}"
        if self._redis.set(self._key, owner, nx=True, ex=LOCK_TTL_S):
            self._owner = owner
            return True
        return False

    def release(self) -> None:
        if self._redis is None:
            self._local.release()
            return
        self._redis.eval(self._RELEASE, 1, self._key, self._owner)


class WechatApi(WeChatClient):  # type: ignore[misc]  # wechatpy has no type hints
    """A mini-program's server API client. One per process and app (``api_from_settings``)."""

    def __init__(
        self, *, api_base: str, app_id: str, app_secret: str, timeout_s: float, redis: Redis | None
    ) -> None:
        storage = RedisStorage(redis, prefix=STORAGE_PREFIX) if redis is not None else MemoryStorage()
        super().__init__(app_id, app_secret, session=storage, timeout=timeout_s, auto_retry=False)
        self.API_BASE_URL = f"{api_base.rstrip('/')}/cgi-bin/"
        self._lock = _TokenLock(redis, f"{STORAGE_PREFIX}:{app_id}:token-lock")
        self.token_fetches = 0  # answered by WeChat, in this process (for tests and logs)

    # ------------------------------------------------------------------ access token

    def fetch_access_token(self) -> dict[str, Any]:
        """wechatpy calls this when the storage has no token: fetch one (or wait for a peer's)."""
        return {"access_token": self._token(stale=None)}

    def _cached(self) -> str | None:
        value = self.session.get(self.access_token_key)
        return value if isinstance(value, str) and value else None

    def _token(self, *, stale: str | None) -> str:
        """A token other than ``stale``: the cached one, a peer's fresh one, or one fetched here."""
        deadline = time.monotonic() + WAIT_FOR_PEER_S
        while True:
            cached = self._cached()
            if cached and cached != stale:
                return cached
            if self._lock.acquire():
                try:
                    cached = self._cached()
                    if cached and cached != stale:
                        return cached
                    return self._fetch(stale=stale)
                finally:
                    self._lock.release()
            if time.monotonic() >= deadline:
                # The holder is slow or died holding the lock: stable_token is safe to call concurrently.
                return self._fetch(stale=stale)
            time.sleep(POLL_S)

    def _fetch(self, *, stale: str | None) -> str:
        token, expires_in = self._stable_token(force_refresh=False)
        if stale is not None and token == stale:
            # WeChat called our token invalid but still answers it: ask for a new one.
            token, expires_in = self._stable_token(force_refresh=True)
        self.session.set(self.access_token_key, token, max(1, expires_in - EARLY_REFRESH_S))
        return token

    def _stable_token(self, *, force_refresh: bool) -> tuple[str, int]:
        body = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self.secret,
            "force_refresh": force_refresh,
        }
        try:
            response = self._http.post(f"{self.API_BASE_URL}stable_token", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise WechatCallError(Outcome.RETRY, None, f"token: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            outcome = Outcome.RETRY if response.status_code >= 500 else Outcome.REJECTED
            raise WechatCallError(outcome, None, f"token: http {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise WechatCallError(Outcome.RETRY, None, "token: not JSON") from exc
        errcode = int(answer.get("errcode") or 0) if isinstance(answer, dict) else 0
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if errcode != 0 or not isinstance(token, str) or not token:
            errmsg = str(answer.get("errmsg", "")) if isinstance(answer, dict) else ""
            log.warning("wechat stable_token refused: %s %s", errcode, errmsg)
            outcome = Outcome.RETRY if errcode in RETRYABLE or errcode == 0 else Outcome.REJECTED
            raise WechatCallError(outcome, errcode or None, f"token: {errmsg}")
        self.token_fetches += 1
        expires_in = answer.get("expires_in")
        return token, int(expires_in) if isinstance(expires_in, int) and expires_in > 0 else 7200

    # ------------------------------------------------------------------ subscribe messages

    def send_subscribe(
        self,
        *,
        openid: str,
        template_id: str,
        page: str,
        data: dict[str, str],
        state: str,
        lang: str = "zh_CN",
    ) -> None:
        """Send one subscribe message (``cgi-bin/message/subscribe/send``); ``WechatCallError`` if not."""
        body = {
            "touser": openid,
            "template_id": template_id,
            "page": page,
            "data": {key: {"value": value} for key, value in data.items()},
            "miniprogram_state": state,
            "lang": lang,
        }
        token = self._token(stale=None)
        for attempt in (1, 2):
            try:
                self.post("message/subscribe/send", data=body, params={"access_token": token})
                return
            except WeChatClientException as exc:
                if exc.errcode is None:
                    raise _http_error(exc) from exc
                errcode = int(exc.errcode)
                if errcode in TOKEN_ERRORS and attempt == 1:
                    log.info("wechat token refused (%s): fetching another and retrying once", errcode)
                    token = self._token(stale=token)
                    continue
                raise WechatCallError(_outcome_of(errcode), errcode, str(exc.errmsg or "")) from exc
            except requests.RequestException as exc:
                raise _transport_error(exc) from exc


_clients: dict[tuple[str, str, str], WechatApi] = {}
_clients_lock = threading.Lock()


def api_from_settings(settings: Settings) -> WechatApi | None:
    """The process's client for the configured app; None when no app id / secret is set."""
    wechat = settings.wechat
    secret = wechat.app_secret.get_secret_value()
    if not (wechat.app_id and secret):
        return None
    redis_url = str(settings.redis.url or "")
    key = (wechat.api_base, wechat.app_id, redis_url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = WechatApi(
                api_base=wechat.api_base,
                app_id=wechat.app_id,
                app_secret=secret,
                timeout_s=wechat.timeout_s,
                redis=Redis.from_url(redis_url) if redis_url else None,
            )
            _clients[key] = client
        return client
